// Preloaded into kinesalite (`node --require`, by connectors/local_stack.py): fixes to kinesalite 3.3.3.
//
// 1. kinesalite 3.3.3 throws from a request stream's 'error' event (index.js: `req.on('error', function(err) {
// throw err })`), so one client that goes away mid-request (a SIGKILLed Flink TaskManager resets its sockets)
// takes the whole emulator down, and every stream of every test after it.  Such an error concerns that request
// alone: say so on the log and carry on.  Anything else still ends the process, as it would have.
'use strict'

const path = require('path')

const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])

process.on('uncaughtException', (err) => {
  if (err && (CLIENT_GONE.has(err.code) || err.message === 'aborted')) {
    console.error(`kinesalite: a client went away mid-request (${err.code || err.message}); carrying on`)
    return
  }
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})

// 2-4. CBOR, which the AWS SDK for Java speaks to Kinesis (as it does on AWS), as kinesalite got it wrong:
//
// 2. It encodes an answer with `cbor.Encoder.encodeOne(data)`, and node-cbor's encodeOne returns what one read of
//    its stream holds: at most the stream's highWaterMark, 16 KiB by default (hildjj/node-cbor#93, #170).  Any
//    longer answer came back cut short, with a Content-Length to match: the first GetRecords of more than a few
//    dozen records failed.  A highWaterMark above Kinesis's largest answer (GetRecords: 10 MiB) keeps it whole.
// 3. It stores a record's Data as the request gives it: base64 text from JSON, a Buffer from CBOR.  A JSON client
//    then read a CBOR writer's record as `{"type":"Buffer",...}`.  Requests are made what JSON would give
//    (byte strings to base64 text) and answers give Data as a byte string, as Kinesis does.
// 4. The SDK writes a timestamp as tag 1 with epoch milliseconds and reads one as epoch milliseconds; kinesalite
//    keeps seconds, so AT_TIMESTAMP iterators were refused and arrival times read as 1970.
const LARGEST_ANSWER = 16 * 1024 * 1024
const cbor = require(require.resolve('cbor', { paths: [path.dirname(process.argv[1])] }))

function asJsonGivesIt (value) {
  if (Buffer.isBuffer(value)) return value.toString('base64')
  if (Array.isArray(value)) return value.map(asJsonGivesIt)
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) value[key] = asJsonGivesIt(value[key])
  }
  return value
}

function asKinesisAnswers (value, key) {
  if (Array.isArray(value)) return value.map((item) => asKinesisAnswers(item))
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out = {}
    for (const [name, item] of Object.entries(value)) out[name] = asKinesisAnswers(item, name)
    return out
  }
  if (key === 'Data' && typeof value === 'string') return Buffer.from(value, 'base64')
  if (typeof value === 'number' && /Timestamp$/.test(key || '')) return Math.round(value * 1000)
  return value
}

const decodeFirstSync = cbor.Decoder.decodeFirstSync
cbor.Decoder.decodeFirstSync = function (input, options) {
  const request = decodeFirstSync.call(this, input, { tags: { 1: (millis) => millis / 1000 }, ...options })
  return asJsonGivesIt(request)
}

const encodeOne = cbor.Encoder.encodeOne
cbor.Encoder.encodeOne = function (answer, options) {
  return encodeOne.call(this, asKinesisAnswers(answer), { highWaterMark: LARGEST_ANSWER, ...options })
}
