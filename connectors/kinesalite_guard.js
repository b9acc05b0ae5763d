// Preloaded into kinesalite (`node --require`, by connectors/local_stack.py).
//
// kinesalite 3.3.3 throws from a request stream's 'error' event (index.js: `req.on('error', function(err) {
// throw err })`), so one client that goes away mid-request (a SIGKILLed Flink TaskManager resets its sockets)
// takes the whole emulator down, and every stream of every test after it.  Such an error concerns that request
// alone: say so on the log and carry on.  Anything else still ends the process, as it would have.
'use strict'

const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])

process.on('uncaughtException', (err) => {
  if (err && (CLIENT_GONE.has(err.code) || err.message === 'aborted')) {
    console.error(`kinesalite: a client went away mid-request (${err.code || err.message}); carrying on`)
    return
  }
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
