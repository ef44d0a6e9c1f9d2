#!/usr/bin/env node
/**
 * The mlx-trace command line. Exit codes: 0 success, 1 a check failed (e.g. a regression), 2 usage
 * error or unreadable input. Every error is one line on stderr.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VERSION } from '../core/record/version';
import { TraceFileError } from '../core/io/persist';
import { CheckFailed, UsageError, err, out } from './ui';
import { COMMANDS } from './commands';

const GLOBAL_HELP = `mlx-trace ${VERSION}: profile MLX programs in Node.js

Usage: mlx-trace <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Run "mlx-trace <command> --help" for a command's options.
Options: --help, --version. Colors follow the terminal; NO_COLOR turns them off.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(GLOBAL_HELP);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    out(VERSION);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    err(`mlx-trace: unknown command "${name}" (run "mlx-trace --help" for the list)`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(cmd.help);
    return 0;
  }
  try {
    const config: ParseArgsConfig = { args: rest, options: cmd.options ?? {}, allowPositionals: true, strict: true };
    if (cmd.passThrough) {
      // `run` hands everything after the script to the script itself.
      const i = rest.findIndex((a, k) => !a.startsWith('-') && !(k > 0 && optionTakesValue(cmd.options, rest[k - 1])));
      config.args = i < 0 ? rest : rest.slice(0, i + 1);
      const parsed = parseArgs(config);
      return await cmd.run(parsed.values as Record<string, any>, [...parsed.positionals, ...(i < 0 ? [] : rest.slice(i + 1))]);
    }
    const parsed = parseArgs(config);
    return await cmd.run(parsed.values as Record<string, any>, parsed.positionals);
  } catch (e) {
    const error = e as Error & { code?: string };
    if (e instanceof UsageError || (error.code && error.code.startsWith('ERR_PARSE_ARGS'))) {
      err(`mlx-trace ${name}: ${usageMessage(error)} (see "mlx-trace ${name} --help")`);
      return 2;
    }
    if (e instanceof TraceFileError) {
      err(`mlx-trace ${name}: ${error.message.split('\n')[0]}`);
      return 2;
    }
    if (e instanceof CheckFailed) {
      err(`mlx-trace ${name}: ${error.message}`);
      return 1;
    }
    err(`mlx-trace ${name}: ${error.message ? error.message.split('\n')[0] : String(e)}`);
    if (process.env.MLX_TRACE_DEBUG) err(String(error.stack));
    return 1;
  }
}

/** parseArgs explains how to pass '-x' as a positional after its first sentence: keep the first sentence only. */
function usageMessage(e: Error & { code?: string }): string {
  const line = e.message.split('\n')[0];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return line.replace(/^Unknown option '([^']*)'\..*$/, 'unknown option $1');
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return line.replace(/^Unexpected argument '([^']*)'\..*$/, 'unexpected argument $1');
  return line;
}

function optionTakesValue(options: ParseArgsConfig['options'], arg: string): boolean {
  if (!options || !arg.startsWith('-') || arg.includes('=')) return false;
  const key = arg.replace(/^--?/, '');
  const o = options[key] ?? Object.values(options).find((v) => v.short === key);
  return o?.type === 'string';
}

if ((typeof require !== 'undefined' && require.main === module) || process.argv[1]?.endsWith('cli.js') || process.argv[1]?.endsWith('cli.mjs')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      err(`mlx-trace: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}
