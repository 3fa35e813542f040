// Imported first by the runtime entry, before any LiveKit module is evaluated: rtc-node picks its
// own log level from NODE_ENV when it loads (debug otherwise), and its pino lines bypass our
// logger; in production it prints only warnings and errors.
process.env.NODE_ENV ??= 'production';
