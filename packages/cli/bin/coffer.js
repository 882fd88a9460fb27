#!/usr/bin/env node
// `coffer` binary: the CLI is TypeScript run without a build step, through tsx (as the rest of the
// workspace runs its processes).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
