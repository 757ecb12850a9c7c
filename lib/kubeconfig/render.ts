import * as cmd from './shells/cmd';
import * as fish from './shells/fish';
import * as posix from './shells/posix';
import * as powershell from './shells/powershell';
import type { Command, Shell } from './types';

export { UnsafeForShellError } from './errors';

export const SHELLS: readonly Shell[] = ['bash', 'fish', 'powershell', 'cmd'];

/** One command as one line for `shell`. Throws UnsafeForShellError rather than render something that would run differently. */
export function renderCommand(shell: Shell, command: Command): string {
  if (command.argv.length === 0) throw new RangeError('command has an empty argv');
  switch (shell) {
    case 'bash':
      return posix.renderArgv(command.argv);
    case 'fish':
      return fish.renderArgv(command.argv);
    case 'powershell':
      return powershell.renderArgv(command.argv);
    case 'cmd':
      return cmd.renderArgv(command.argv);
    default: {
      const unreachable: never = shell;
      throw new RangeError(`unknown shell ${String(unreachable)}`);
    }
  }
}

/** One command per line, joined with '\n'. */
export function renderCommands(shell: Shell, commands: readonly Command[]): string {
  return commands.map((command) => renderCommand(shell, command)).join('\n');
}
