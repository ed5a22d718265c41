// An independent BEP 44/46 node (webtorrent's bittorrent-dht) driven by tests/test_bep46_interop.py.
//
// Usage: node bep46.mjs HOST:PORT [HOST:PORT ...]   (the DHT nodes to bootstrap from; no others)
// It listens on 127.0.0.1, prints {"port": N}, then answers one JSON command per stdin line:
//   {"op": "nodes"}                                   -> {"nodes": how many nodes its table holds}
//   {"op": "get", "k": HEX, "salt": HEX}              -> the newest item that verifies, its v as JSON
//   {"op": "put", "salt": HEX, "v": {KEY: {"bytes": HEX} | {"int": N}}, "seq": N}
//                                                     -> {"k": HEX, "stored": nodes that took it}
// Signatures are ed25519 by node's own crypto (no labkit code, no libtorrent).
import crypto from 'node:crypto'
import readline from 'node:readline'
import DHT from 'bittorrent-dht'

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex') // DER prefix of a raw 32-byte public key

function verify (signature, message, publicKey) {
  try {
    const key = crypto.createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(publicKey)]), format: 'der', type: 'spki' })
    return crypto.verify(null, Buffer.from(message), key, Buffer.from(signature))
  } catch (err) {
    return false
  }
}

function toJSON (v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') }
  if (typeof v === 'number') return { int: v }
  if (v && typeof v === 'object') return { dict: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJSON(x)])) }
  return { other: String(v) }
}

function fromJSON (fields) {
  return Object.fromEntries(Object.entries(fields).map(([k, x]) => [k, 'bytes' in x ? Buffer.from(x.bytes, 'hex') : x.int]))
}

// BEP 44's signed buffer, spelt out here rather than taken from bittorrent-dht's internals
function signedBuffer (salt, seq, bencodedV) {
  const prefix = salt.length ? Buffer.concat([Buffer.from(`4:salt${salt.length}:`), salt]) : Buffer.alloc(0)
  return Buffer.concat([prefix, Buffer.from(`3:seqi${seq}e1:v`), bencodedV])
}

const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519')
const ownKey = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')

const bootstrap = process.argv.slice(2)
const dht = new DHT({ bootstrap, verify, host: false })
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

dht.on('error', (err) => { send({ error: String(err) }); process.exit(1) })
dht.listen(0, '127.0.0.1', () => {
  send({ port: dht.address().port, key: ownKey.toString('hex') })
})

const bencode = (await import('bencode')).default

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line)
  if (cmd.op === 'nodes') {
    send({ nodes: dht.toJSON().nodes.length })
  } else if (cmd.op === 'get') {
    const k = Buffer.from(cmd.k, 'hex')
    const salt = Buffer.from(cmd.salt, 'hex')
    const target = crypto.createHash('sha1').update(Buffer.concat([k, salt])).digest()
    dht.get(target, { salt, verify, cache: false }, (err, res) => {
      if (err) return send({ error: String(err) })
      if (!res) return send({ found: false })
      const signed = signedBuffer(salt, res.seq, Buffer.from(bencode.encode(res.v)))
      const flipped = Buffer.from(res.sig)
      flipped[0] ^= 1
      send({
        found: true,
        seq: res.seq,
        v: toJSON(res.v),
        v_is_dict: !Buffer.isBuffer(res.v) && !(res.v instanceof Uint8Array) && typeof res.v === 'object',
        v_bytes: Buffer.from(bencode.encode(res.v)).length,
        k: Buffer.from(res.k).toString('hex'),
        held_here: Boolean(dht._values.get(target.toString('hex'))), // this node verified and stored a put
        sig_ok: verify(res.sig, signed, res.k),
        flipped_sig_ok: verify(flipped, signed, res.k)
      })
    })
  } else if (cmd.op === 'put') {
    const salt = Buffer.from(cmd.salt, 'hex')
    const v = fromJSON(cmd.v)
    const sign = (buf) => crypto.sign(null, buf, privateKey)
    dht.put({ k: ownKey, salt, seq: cmd.seq, v, sign }, (err, hash, stored) => {
      if (err) return send({ error: String(err) })
      send({ k: ownKey.toString('hex'), stored })
    })
  } else {
    send({ error: `unknown op ${cmd.op}` })
  }
})
