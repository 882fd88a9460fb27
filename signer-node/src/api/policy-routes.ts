// Policy versions and dry-run evaluation (signer-node/docs/policy-api.md): `GET /v1/policy`,
// `POST /v1/policy/versions` (verified here, recorded with this node's own receipt time, forwarded to
// peers, each of which verifies it again) and `POST /v1/policy/dry-run` (the gate's full evaluation,
// nothing stored).
import type { Approval } from '@coffer/policy/approvals';
import type { PriceSnapshot } from '@coffer/policy/price';
import type { TransferRequest } from '@coffer/policy/request';
import { approvalFromWire, priceSnapshotFromWire } from '@coffer/policy/wire';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { BundleError, decodeUnsigned, evmNetwork, keyAddress, makeBundle } from '../policy/bundle.ts';
import { PolicyVersionError } from '../policy/governance.ts';
import { buildEvmFromRpc, EvmRpc } from '../requests/evm-rpc.ts';
import type { TransferBody } from '../requests/service.ts';
import { ApiError } from './errors.ts';
import { type App, type Auth, HEX64, type Security, type ServerDeps } from './server.ts';

const ANY_SCOPE = ['admin', 'maker', 'approver', 'policy-admin', 'auditor'] as const;

/** A transfer body (as `POST /v1/transfers` takes it) plus approvals to evaluate with. */
type DryRunBody = TransferBody & { approvals?: unknown[] };

function fieldError(e: unknown, fallback: string): ApiError {
  const err = e as { field?: string; reason?: string; message?: string };
  return new ApiError(
    422,
    'invalid-request',
    `${err.field ?? fallback} ${err.reason ?? err.message ?? 'is invalid'}`,
    err.field ?? fallback,
  );
}

export function registerPolicyRoutes(app: App, d: ServerDeps, auth: Auth, sec: Security): void {
  app.get(
    '/v1/policy',
    {
      config: auth([...ANY_SCOPE]),
      schema: { security: sec, summary: 'Active policy version and every known version' },
    },
    async () => d.gate.policyView(),
  );

  app.post(
    '/v1/policy/versions',
    {
      config: auth(['policy-admin']),
      schema: {
        security: sec,
        summary: 'Submit a signed policy version (verified by every node, forwarded to peers)',
        body: { type: 'object' },
      },
    },
    async (req, reply) => {
      try {
        const view = d.gate.submitVersion(req.body, `api:${req.apiKeyId}`, true);
        return reply.code(201).send(view);
      } catch (e) {
        if (e instanceof PolicyVersionError)
          throw new ApiError(422, 'invalid-policy-version', e.message, e.field);
        if (e instanceof Error && /no policy configured/.test(e.message))
          throw new ApiError(409, 'no-policy', 'this node has no policy section; it refuses every signature');
        throw e;
      }
    },
  );

  app.post(
    '/v1/policy/dry-run',
    {
      config: auth(['maker', 'admin', 'auditor']),
      schema: {
        security: sec,
        summary: 'Evaluate a transfer under this node policy, without side effects',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['wallet', 'keyId', 'chain', 'asset', 'to', 'amount', 'idempotencyKey'],
          properties: {
            wallet: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
            keyId: { type: 'string', pattern: HEX64 },
            path: { type: 'string', pattern: '^m(/[0-9]{1,10}){0,32}$' },
            chain: { type: 'string', enum: ['evm', 'tron', 'bitcoin'] },
            asset: { type: 'object' },
            to: { type: 'string', minLength: 1, maxLength: 100 },
            amount: { type: 'string', pattern: '^[1-9][0-9]{0,77}$' },
            idempotencyKey: { type: 'string', minLength: 1, maxLength: 128 },
            reference: { type: 'string', maxLength: 200 },
            unsignedTransaction: { type: 'string', minLength: 2, maxLength: 131072 },
            priceSnapshot: { type: 'object' },
            approvals: { type: 'array', maxItems: 64 },
          },
        },
      },
    },
    async (req) => {
      const b = req.body as DryRunBody;
      const apiKey = d.config.apiKeys.find((k) => k.id === req.apiKeyId);
      const operator = apiKey?.operator ?? apiKey?.id ?? 'unknown';
      const path = b.path ?? 'm';
      const key = d.wallets.get(b.keyId);
      if (!key) throw new ApiError(404, 'not-found', 'no such key on this node', 'keyId');
      const network =
        b.chain === 'evm'
          ? d.config.chains.evm && `eip155:${d.config.chains.evm.chainId}`
          : b.chain === 'tron'
            ? d.config.chains.tron?.network
            : d.config.chains.bitcoin?.network;
      if (network === undefined)
        throw new ApiError(422, 'unsupported-chain', `this node has no ${b.chain} configuration`, 'chain');
      let approvals: Approval[] = [];
      let priceSnapshot: PriceSnapshot | undefined;
      let from: string | undefined;
      let bytes: Uint8Array;
      try {
        approvals = (b.approvals ?? []).map((a, i) => approvalFromWire(a, `approvals[${i}]`));
        if (b.priceSnapshot !== undefined)
          priceSnapshot = priceSnapshotFromWire(b.priceSnapshot, 'priceSnapshot');
        from = await keyAddress(key, path, b.chain, network);
        if (from === undefined)
          throw new ApiError(422, 'wrong-key', `key has no ${b.chain} address`, 'keyId');
        bytes = await unsignedBytes(d, b, from);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw fieldError(e, 'request');
      }
      let intent: TransferRequest['intent'];
      try {
        intent = (await decodeUnsigned(b.chain, bytes, { from, chains: d.config.chains, key, path })).intent;
      } catch (e) {
        if (e instanceof BundleError) throw fieldError(e, 'unsignedTransaction');
        throw e;
      }
      const request: TransferRequest = {
        kind: 'transfer',
        wallet: b.wallet,
        operator,
        submittedAtMs: Date.now(),
        requestId: b.idempotencyKey,
        unsignedTransaction: bytes,
        intent,
      };
      let amount: bigint;
      try {
        amount = BigInt(b.amount);
      } catch {
        throw new ApiError(400, 'invalid-request', 'amount must be a decimal integer', 'amount');
      }
      const asset = b.asset as { kind?: unknown; contract?: unknown };
      if (asset.kind !== 'native' && !(asset.kind === 'token' && typeof asset.contract === 'string'))
        throw new ApiError(
          400,
          'invalid-request',
          'asset must be {kind:"native"} or {kind:"token", contract}',
          'asset',
        );
      const bundle = makeBundle({
        id: `req-${bytesToHex(randomBytes(12))}`,
        keyId: b.keyId,
        path,
        request,
        description: {
          chain: b.chain,
          network: intent.network,
          asset:
            asset.kind === 'native'
              ? { kind: 'native' }
              : { kind: 'token', contract: asset.contract as string },
          to: b.to,
          amount,
        },
        ...(priceSnapshot !== undefined ? { priceSnapshot } : {}),
      });
      bundle.approvals = approvals;
      const decision = await d.gate.evaluate(bundle, { nowMs: Date.now(), dryRun: true });
      return { decision };
    },
  );
}

/** The client's unsigned transaction, or one built over the node's EVM endpoint (nonce, fees). */
async function unsignedBytes(d: ServerDeps, b: DryRunBody, from: string): Promise<Uint8Array> {
  if (b.unsignedTransaction !== undefined && b.chain === 'bitcoin') {
    // A PSBT, base64 (as @coffer/chains builds it).
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b.unsignedTransaction))
      throw new ApiError(400, 'invalid-request', 'must be a base64 PSBT', 'unsignedTransaction');
    return new Uint8Array(Buffer.from(b.unsignedTransaction, 'base64'));
  }
  if (b.unsignedTransaction !== undefined) {
    const hex = b.chain === 'evm' ? b.unsignedTransaction.replace(/^0x/, '') : b.unsignedTransaction;
    if (!/^([0-9a-f]{2})+$/.test(hex))
      throw new ApiError(
        400,
        'invalid-request',
        'must be lowercase hex of whole bytes',
        'unsignedTransaction',
      );
    return hexToBytes(hex);
  }
  const evm = d.config.chains.evm;
  if (b.chain !== 'evm' || evm?.rpcUrl === undefined)
    throw new ApiError(
      422,
      'invalid-request',
      'this node cannot build the transaction; pass unsignedTransaction',
      'unsignedTransaction',
    );
  const tx = await buildEvmFromRpc(new EvmRpc(evm.rpcUrl), {
    network: evmNetwork(evm),
    from,
    to: b.to,
    ...(b.asset.kind === 'token' ? { token: b.asset.contract } : {}),
    amount: BigInt(b.amount),
  });
  return hexToBytes(tx.serialized.slice(2));
}
