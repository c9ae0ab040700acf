// A command-line mistake the user can fix (a bad option, a missing file or tool): the CLI
// prints its message as one sentence and exits 2. Its own module, so that the code that
// throws it (cli.ts, wasm3.ts) need not import the CLI.
export class UsageError extends Error {}
