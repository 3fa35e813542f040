// Imported first by the runtime entry, before any LiveKit module is evaluated: rtc-node picks its
// own log level from NODE_ENV when it loads (debug otherwise), and its pino lines bypass our
// logger; in production it prints only warnings and errors.
process.env.NODE_ENV ??= 'production';
// LiveKit's native layer (Rust and libwebrtc, inside rtc-node) writes its own records as text on
// stderr, at the level RUST_LOG names (errors when unset). Off unless asked for, so the output
// stays JSON lines: a failure that matters reaches us through rtc-node's API and is logged there.
process.env.RUST_LOG ??= 'off';
