import type { ParseArgsConfig } from 'node:util';
import { demoCommand } from './demo';
import { runCommand } from './run';
import { viewCommand, htmlCommand, convertCommand, exportCommand } from './files';
import { calibrateCommand } from './calibrate';
import { mergeCommand } from './merge';
import { compareCommand } from './compare';
import { benchOpsCommand } from './bench-ops';
import { benchModelCommand } from './bench-model';

export interface Command {
  summary: string;
  help: string;
  options?: ParseArgsConfig['options'];
  /** Options stop at the first positional; the rest belongs to it (mlx-trace run app.js --its-flags). */
  passThrough?: boolean;
  run(values: Record<string, any>, positionals: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  demo: demoCommand,
  run: runCommand,
  view: viewCommand,
  html: htmlCommand,
  convert: convertCommand,
  export: exportCommand,
  calibrate: calibrateCommand,
  merge: mergeCommand,
  compare: compareCommand,
  'bench-ops': benchOpsCommand,
  'bench-model': benchModelCommand,
};
