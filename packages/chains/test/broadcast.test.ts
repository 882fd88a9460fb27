// Bitcoin (Esplora) and TRON (full-node HTTP API) broadcasters against a tiny local HTTP server on
// 127.0.0.1 that speaks each API's real shape; bounded retries, timeouts and confirmation tracking.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  attachBitcoinSignatures,
  bitcoinSigningDigests,
  buildBitcoinTransfer,
  EsploraBroadcaster,
  p2wpkhAddress,
} from '../src/bitcoin/index.ts';
import { waitForConfirmations } from '../src/broadcast/index.ts';
import {
  attachTronSignature,
  buildTronTransfer,
  type SignedTronTransaction,
  TronBroadcaster,
  tronAddressFromPublicKey,
  tronSigningDigest,
} from '../src/tron/index.ts';
import { expectChainError, signRecoverable } from './helpers.ts';

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;
const servers: Server[] = [];

async function serve(handler: Handler): Promise<string> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => handler(request, body, response));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const key = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(11));
const wallet = { type: 'p2wpkh' as const, publicKey: secp256k1.getPublicKey(key, true) };

function signedBitcoinTransaction() {
  const to = p2wpkhAddress(
    secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(12)), true),
    'regtest',
  );
  const built = buildBitcoinTransfer({
    network: 'regtest',
    wallet,
    utxos: [{ txid: 'cd'.repeat(32), vout: 1, value: 100_000n }],
    to,
    amount: 40_000n,
    feeRateSatPerVb: 2n,
  });
  const options = { network: 'regtest' as const, wallet };
  const signatures = bitcoinSigningDigests(built.psbtBase64, options).map((d) =>
    signRecoverable(d.digest, key),
  );
  return attachBitcoinSignatures(built.psbtBase64, signatures, options);
}

describe('Esplora broadcaster', () => {
  it('broadcasts, then tracks pending → confirmed with growing confirmations', async () => {
    const { hex, txid } = signedBitcoinTransaction();
    let received = '';
    let tip = 100;
    let statusCalls = 0;
    const url = await serve((request, body, response) => {
      if (request.method === 'POST' && request.url === '/tx') {
        received = body;
        response.end(txid);
      } else if (request.url === `/tx/${txid}/status`) {
        statusCalls++;
        response.setHeader('content-type', 'application/json');
        response.end(
          JSON.stringify(
            statusCalls < 2
              ? { confirmed: false }
              : { confirmed: true, block_height: 101, block_hash: '00'.repeat(32), block_time: 1 },
          ),
        );
      } else if (request.url === '/blocks/tip/height') {
        tip++;
        response.end(String(tip));
      } else {
        response.statusCode = 404;
        response.end('Transaction not found');
      }
    });
    const broadcaster = new EsploraBroadcaster({ url, timeoutMs: 2_000, retries: 0 });
    expect(await broadcaster.broadcast(hex)).toBe(txid);
    expect(received).toBe(hex);
    const status = await waitForConfirmations(broadcaster, txid, {
      confirmations: 3,
      pollIntervalMs: 10,
      timeoutMs: 2_000,
    });
    expect(status).toMatchObject({ state: 'confirmed', blockNumber: 101 });
    expect(status.confirmations).toBeGreaterThanOrEqual(3);
    expect((await broadcaster.status('ef'.repeat(32))).state).toBe('unknown');
  });

  it('reports a rejected transaction with the node’s reason', async () => {
    const { hex } = signedBitcoinTransaction();
    const url = await serve((_request, _body, response) => {
      response.statusCode = 400;
      response.end('sendrawtransaction RPC error: {"code":-25,"message":"bad-txns-inputs-missingorspent"}');
    });
    const error = await expectChainError(
      () => new EsploraBroadcaster({ url }).broadcast(hex),
      'broadcast-rejected',
      '/tx',
    );
    expect(error.message).toMatch(/missingorspent/);
  });

  it('refuses an endpoint that answers with another txid', async () => {
    const { hex } = signedBitcoinTransaction();
    const url = await serve((_request, _body, response) => response.end('00'.repeat(32)));
    await expectChainError(() => new EsploraBroadcaster({ url }).broadcast(hex), 'rpc-error', '/tx');
  });

  it('retries a 5xx a bounded number of times, then succeeds', async () => {
    const { hex, txid } = signedBitcoinTransaction();
    let calls = 0;
    const url = await serve((_request, _body, response) => {
      calls++;
      if (calls < 3) {
        response.statusCode = 503;
        response.end('busy');
      } else response.end(txid);
    });
    expect(await new EsploraBroadcaster({ url, retries: 2, retryDelayMs: 5 }).broadcast(hex)).toBe(txid);
    expect(calls).toBe(3);
  });

  it('gives up after the last retry on a persistent 5xx', async () => {
    const { hex } = signedBitcoinTransaction();
    let calls = 0;
    const url = await serve((_request, _body, response) => {
      calls++;
      response.statusCode = 500;
      response.end('down');
    });
    await expectChainError(
      () => new EsploraBroadcaster({ url, retries: 1, retryDelayMs: 5 }).broadcast(hex),
      'rpc-error',
    );
    expect(calls).toBe(2);
  });

  it('times out on an endpoint that never answers', async () => {
    const url = await serve(() => {
      // never respond
    });
    await expectChainError(
      () =>
        new EsploraBroadcaster({ url, timeoutMs: 100, retries: 1, retryDelayMs: 5 }).status('ab'.repeat(32)),
      'timeout',
    );
  });

  it('refuses a malformed status answer, naming the field', async () => {
    const url = await serve((_request, _body, response) =>
      response.end(JSON.stringify({ confirmed: 'yes' })),
    );
    await expectChainError(
      () => new EsploraBroadcaster({ url }).status('ab'.repeat(32)),
      'rpc-error',
      '/tx/status.confirmed',
    );
  });
});

const tronKey = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(13));
const tronWallet = tronAddressFromPublicKey(secp256k1.getPublicKey(tronKey, true));
const tronNetwork = { name: 'nile', tokens: [], maxFeeLimitSun: 100_000_000n };

function signedTronTransaction(): SignedTronTransaction {
  const to = tronAddressFromPublicKey(
    secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(14)), true),
  );
  const { transaction } = buildTronTransfer({
    network: tronNetwork,
    from: tronWallet,
    to,
    amount: 7_000_000n,
    refBlock: { number: 5_000_000, hash: '00'.repeat(32) },
    timestampMs: 1_760_000_000_000,
  });
  const signature = signRecoverable(tronSigningDigest(transaction.raw_data_hex), tronKey);
  return attachTronSignature(transaction, signature, { network: tronNetwork, from: tronWallet });
}

describe('TRON broadcaster', () => {
  it('broadcasts the signed JSON and tracks confirmations from block numbers', async () => {
    const signed = signedTronTransaction();
    let posted: unknown;
    let head = 5_000_010;
    let infoCalls = 0;
    const url = await serve((request, body, response) => {
      response.setHeader('content-type', 'application/json');
      const parsed = JSON.parse(body || '{}') as { value?: string };
      switch (request.url) {
        case '/wallet/broadcasttransaction':
          posted = parsed;
          response.end(JSON.stringify({ result: true, txid: signed.txID }));
          return;
        case '/wallet/gettransactioninfobyid':
          infoCalls++;
          response.end(
            parsed.value !== signed.txID || infoCalls < 2
              ? '{}'
              : JSON.stringify({
                  id: signed.txID,
                  blockNumber: 5_000_011,
                  blockTimeStamp: 1,
                  receipt: { net_usage: 268 },
                }),
          );
          return;
        case '/wallet/gettransactionbyid':
          response.end(parsed.value === signed.txID ? JSON.stringify(signed) : '{}');
          return;
        case '/wallet/getnowblock':
          head += 5;
          response.end(JSON.stringify({ blockID: '00', block_header: { raw_data: { number: head } } }));
          return;
        default:
          response.statusCode = 404;
          response.end('{}');
      }
    });
    const broadcaster = new TronBroadcaster({ url, timeoutMs: 2_000, retries: 0 });
    expect(await broadcaster.broadcast(signed)).toBe(signed.txID);
    expect(posted).toEqual(JSON.parse(JSON.stringify(signed)));
    expect((await broadcaster.status(signed.txID)).state).toBe('pending');
    const status = await waitForConfirmations(broadcaster, signed.txID, {
      confirmations: 19,
      pollIntervalMs: 10,
      timeoutMs: 2_000,
    });
    expect(status.confirmations).toBeGreaterThanOrEqual(19);
    expect((await broadcaster.status('ab'.repeat(32))).state).toBe('unknown');
  });

  it('decodes the hex-encoded rejection message', async () => {
    const signed = signedTronTransaction();
    const url = await serve((_request, _body, response) =>
      response.end(
        JSON.stringify({
          code: 'SIGERROR',
          message: Buffer.from('validate signature error').toString('hex'),
        }),
      ),
    );
    const error = await expectChainError(
      () => new TronBroadcaster({ url }).broadcast(signed),
      'broadcast-rejected',
    );
    expect(error.message).toMatch(/SIGERROR: validate signature error/);
  });

  it('reports a reverted TRC-20 call as failed', async () => {
    const url = await serve((request, _body, response) => {
      if (request.url === '/wallet/getnowblock') {
        response.end(JSON.stringify({ block_header: { raw_data: { number: 10 } } }));
      } else
        response.end(
          JSON.stringify({
            id: 'ab'.repeat(32),
            blockNumber: 9,
            result: 'FAILED',
            receipt: { result: 'REVERT' },
          }),
        );
    });
    await expectChainError(
      () =>
        waitForConfirmations(new TronBroadcaster({ url }), 'ab'.repeat(32), {
          confirmations: 1,
          pollIntervalMs: 10,
          timeoutMs: 100,
        }),
      'transaction-failed',
    );
  });
});
