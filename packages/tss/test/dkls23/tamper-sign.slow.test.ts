// The signing tamper suite (tamper-suite.ts) for 2-of-3; the 3-of-5 run lives in
// sign-3of5.slow.test.ts, next to the key it shares.
import { keygen, pick } from './fixtures.ts';
import { signTamperSuite } from './tamper-suite.ts';

signTamperSuite('2-of-3, signers 1,3', pick(keygen(2, 3), [1, 3]));
