// The `presign` section of a node's configuration: off by default, and every bad value refused with
// the field named (a hardened path could never be presigned on a threshold key).
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config/config.ts';

const base = () => ({
  nodeId: 'node-a',
  listen: { host: '127.0.0.1', port: 7001 },
  dataDir: 'data',
  kek: { backend: 'software', passphrase: { env: 'PASS' } },
  peers: [],
  apiKeys: [{ id: 'admin', scopes: ['admin'], sha256: 'cd'.repeat(32) }],
});

function refused(presign: unknown): { field: string; message: string } {
  try {
    parseConfig({ ...base(), presign }, '/etc/coffer');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { field: (e as ConfigError).field, message: (e as Error).message };
  }
  throw new Error('config was accepted');
}

describe('presign config', () => {
  it('is off unless configured, and keeps the paths given', () => {
    expect(parseConfig(base(), '/etc/coffer').presign).toEqual({ poolSize: 0, paths: ['m'] });
    expect(parseConfig({ ...base(), presign: { poolSize: 4 } }, '/etc/coffer').presign).toEqual({
      poolSize: 4,
      paths: ['m'],
    });
    expect(
      parseConfig({ ...base(), presign: { poolSize: 2, paths: ['m/0', 'm/0/7'] } }, '/etc/coffer').presign,
    ).toEqual({ poolSize: 2, paths: ['m/0', 'm/0/7'] });
  });

  it.each([
    [{ poolSize: -1 }, 'presign.poolSize'],
    [{ poolSize: 65 }, 'presign.poolSize'],
    [{ poolSize: 1.5 }, 'presign.poolSize'],
    [{ poolSize: '2' }, 'presign.poolSize'],
    [{}, 'presign.poolSize'],
    [{ poolSize: 1, paths: [] }, 'presign.paths'],
    [{ poolSize: 1, paths: 'm' }, 'presign.paths'],
    [{ poolSize: 1, paths: ['m', 'm'] }, 'presign.paths'],
    [{ poolSize: 1, paths: ["m/0'"] }, 'presign.paths[0]'],
    [{ poolSize: 1, paths: ['m', 'm/2147483648'] }, 'presign.paths[1]'],
    [{ poolSize: 1, paths: ['0/1'] }, 'presign.paths[0]'],
    [{ poolSize: 1, extra: true }, 'presign.extra'],
    ['4', 'presign'],
  ])('refuses %j naming %s', (presign, field) => {
    expect(refused(presign).field).toBe(field);
  });
});
