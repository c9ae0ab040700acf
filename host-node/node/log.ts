// One line per event: human-readable by default, JSON lines with --log-json.
export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  info(topic: string, message: string, fields?: Record<string, unknown>): void;
  warn(topic: string, message: string, fields?: Record<string, unknown>): void;
  error(topic: string, message: string, fields?: Record<string, unknown>): void;
}

export function make_logger(options: { json: boolean; id: string; write?: (line: string) => void; quiet?: boolean }): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const emit = (level: LogLevel, topic: string, message: string, fields?: Record<string, unknown>) => {
    if (options.quiet) return;
    const time = new Date().toISOString();
    if (options.json) {
      write(`${JSON.stringify({ time, level, node: options.id, topic, msg: message, ...fields })}\n`);
    } else {
      write(`${time} ${options.id} ${level === 'info' ? '' : `${level.toUpperCase()} `}[${topic}] ${message}\n`);
    }
  };
  return {
    info: (t, m, f) => emit('info', t, m, f),
    warn: (t, m, f) => emit('warn', t, m, f),
    error: (t, m, f) => emit('error', t, m, f),
  };
}

export const silent_logger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
