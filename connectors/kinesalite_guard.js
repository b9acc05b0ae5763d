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

// 2-5. CBOR, which the AWS SDK for Java speaks to Kinesis (as it does on AWS), as kinesalite got it wrong:
//
// 2. It encoded an answer with node-cbor's `Encoder.encodeOne`, which returns what one read of its stream holds:
//    at most 16 KiB (hildjj/node-cbor#93, #170).  Any longer answer came back cut short, with a Content-Length to
//    match: the first GetRecords of more than a few dozen records failed.
// 3. node-cbor is plain JavaScript: a 10,000-record GetRecords answer took 169 ms to encode against 18 ms for
//    JSON.stringify, and decoding 130 ms against 8, on the cores the job under test runs on.  cbor-x (as fast as
//    JSON here) encodes and decodes instead, in place of node-cbor's two functions that kinesalite calls.
// 4. It stores a record's Data as the request gives it: base64 text from JSON, bytes from CBOR.  A JSON client
//    then read a CBOR writer's record as `{"type":"Buffer",...}`.  Requests are made what JSON would give
//    (byte strings to base64 text) and answers give Data as a byte string, as Kinesis does.
// 5. The SDK writes a timestamp as tag 1 with epoch milliseconds and reads one as epoch milliseconds; kinesalite
//    keeps seconds, so AT_TIMESTAMP iterators were refused and arrival times read as 1970.
const kinesalite = path.dirname(process.argv[1])
const nodeCbor = require(require.resolve('cbor', { paths: [kinesalite] }))
const cborx = require(require.resolve('cbor-x', { paths: [kinesalite] }))

class EpochMillis {}
cborx.addExtension({
  Class: EpochMillis,
  tag: 1,
  encode () { throw new Error('answers carry timestamps as plain epoch milliseconds') },
  decode: (millis) => Number(millis) / 1000
})
const decoder = new cborx.Decoder({ mapsAsObjects: true, int64AsNumber: true })
// Plain CBOR that any reader takes: no cbor-x records (tag 105) and no typed-array tags.
const encoder = new cborx.Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false })

function asJsonGivesIt (value) {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64')
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

nodeCbor.Decoder.decodeFirstSync = function (input) {
  return asJsonGivesIt(decoder.decode(input))
}

nodeCbor.Encoder.encodeOne = function (answer) {
  // Copied: the encoder writes its next answer over the buffer this one was cut from.
  return Buffer.from(encoder.encode(asKinesisAnswers(answer)))
}
