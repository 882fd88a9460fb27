import { describe, expect, it } from 'vitest';
import { measureGroup, type RunResult } from './timing.ts';

// Behaviour of the measurement loop only (which runs happen, what is recorded); no timing is asserted.
const settings = { iterations: 4, maxCaseMs: 60_000 };

function counter(phases: Record<string, number>) {
  const calls: number[] = [];
  let n = 0;
  const run = (): RunResult => {
    calls.push(++n);
    return { phases, facts: { bytes: 10 * n } };
  };
  return { run, calls };
}

describe('measureGroup', () => {
  it('runs one untimed warm-up and then `iterations` recorded runs per case', async () => {
    const a = counter({ total: 1 });
    const [result] = await measureGroup(settings, [{ label: 'a', run: a.run }]);
    expect(a.calls).toHaveLength(5);
    expect(result).toMatchObject({ phases: { total: { iterations: 4, medianMs: 1 } }, facts: { bytes: 50 } });
  });

  it('skips the warm-up when asked', async () => {
    const a = counter({ total: 1 });
    await measureGroup(settings, [{ label: 'a', run: a.run }], { warmup: false });
    expect(a.calls).toHaveLength(4);
  });

  it('summarises every phase a run reports', async () => {
    const a = counter({ total: 3, presign: 2, online: 1 });
    const [result] = await measureGroup(settings, [{ label: 'a', run: a.run }]);
    expect(result).toMatchObject({ phases: { presign: { medianMs: 2 }, online: { medianMs: 1 } } });
  });

  it('turns a failing case into an error entry and keeps measuring the others', async () => {
    const ok = counter({ total: 1 });
    let failingCalls = 0;
    const results = await measureGroup(settings, [
      {
        label: 'fails',
        run: () => {
          failingCalls++;
          throw new Error('not available yet');
        },
      },
      { label: 'ok', run: ok.run },
    ]);
    expect(results[0]).toEqual({ error: 'not available yet' });
    expect(failingCalls).toBe(1);
    expect(results[1]).toMatchObject({ phases: { total: { iterations: 4 } } });
  });

  it('interleaves the cases of a group, rotating the order each round', async () => {
    const order: string[] = [];
    const run = (name: string) => (): RunResult => {
      order.push(name);
      return { phases: { total: 1 } };
    };
    await measureGroup(
      { iterations: 3, maxCaseMs: 60_000 },
      [
        { label: 'a', run: run('a') },
        { label: 'b', run: run('b') },
      ],
      { warmup: false },
    );
    expect(order).toEqual(['a', 'b', 'b', 'a', 'a', 'b']);
  });

  it('always records at least one run, even with no time budget left', async () => {
    const a = counter({ total: 1 });
    const [result] = await measureGroup({ iterations: 5, maxCaseMs: 0 }, [{ label: 'a', run: a.run }], {
      warmup: false,
    });
    expect(result).toMatchObject({ phases: { total: { iterations: 1 } } });
  });
});
