// The ordered list of schema migrations. A migration is never edited once released; a change is a new
// file with the next version, added at the end of this list.
import { foundation } from './001_foundation.ts';
import { reportIndexes } from './002_report_indexes.ts';
import { releaseNode } from './003_release_node.ts';

export type Migration = { version: number; name: string; sql: string };

export const MIGRATIONS: readonly Migration[] = [foundation, reportIndexes, releaseNode];
