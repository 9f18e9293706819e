'use strict';
// Starts `ferrocket dev` on ephemeral ports (binary from FERROCKET_BIN, default target/debug/ferrocket)
// and resolves once it prints its JSON ready line ({"namesrvAddr","brokerAddr",...}). Every wait is bounded.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const READY_TIMEOUT_MS = 30000;

// The ready line `ferrocket dev` prints on stdout is one JSON object with namesrvAddr, brokerAddr,
// pid and dataDir. Returns { namesrv, broker } for that line, null for any other.
function parseReady(line) {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  let info;
  try {
    info = JSON.parse(t);
  } catch (_) {
    return null;
  }
  if (typeof info.namesrvAddr !== 'string' || typeof info.brokerAddr !== 'string') return null;
  return { namesrv: info.namesrvAddr, broker: info.brokerAddr };
}

/** `ferrocket dev` on ephemeral ports; `setup(dir)` may write files and return extra arguments. */
async function startBroker(setup) {
  const bin = process.env.FERROCKET_BIN || path.join(REPO, 'target', 'debug', 'ferrocket');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocket-node-'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const logPath = path.join(dir, 'ferrocket.stderr.log');
  const log = fs.openSync(logPath, 'a');
  const extra = setup ? setup(dir) : [];
  const child = spawn(bin, [ 'dev', '--data-dir', dataDir, ...extra ], { stdio: [ 'ignore', 'pipe', log ] });
  fs.closeSync(log);
  const tail = () => {
    try {
      return fs.readFileSync(logPath, 'utf8').split('\n').slice(-60).join('\n');
    } catch (_) {
      return '';
    }
  };
  const fields = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(
      () => reject(new Error('no JSON ready line with namesrvAddr and brokerAddr within 30 s; stderr:\n' + tail())),
      READY_TIMEOUT_MS);
    rl.on('line', l => {
      const info = parseReady(l);
      if (info) {
        clearTimeout(timer);
        resolve(info);
      }
    });
    child.on('exit', code => {
      clearTimeout(timer);
      reject(new Error(`ferrocket dev exited with ${code}; stderr:\n` + tail()));
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(r => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // kill -9: the process dies with nothing flushed or closed (its files stay for stop()).
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise(r => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  return { namesrv: fields.namesrv, broker: fields.broker, stop, kill, tail };
}

async function waitUntil(pred, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await new Promise(r => setTimeout(r, intervalMs));
  }
  return pred();
}

module.exports = { startBroker, waitUntil, parseReady };

// ali-ons (like Aliyun ONS) expects topics to exist: its route lookup throws on TOPIC_NOT_EXIST
// instead of falling back to TBW102 as the Java client does. Create the topic the way a Java
// producer would: one SEND_MESSAGE_V2 with defaultTopic=TBW102, on a raw connection.
function createTopic(brokerAddr, topic, timeoutMs = 10000) {
  const net = require('node:net');
  const [ host, port ] = brokerAddr.split(':');
  const header = Buffer.from(JSON.stringify({
    code: 310,
    extFields: {
      a: 'node_create_pg', b: topic, c: 'TBW102', d: '4', e: '0', f: '0', g: String(Date.now()),
      h: '0', i: 'TAGS\u0001probe', j: '0', k: 'false', m: 'false',
    },
    flag: 0, language: 'JAVA', opaque: 1, serializeTypeCurrentRPC: 'JSON', version: 407,
  }));
  const body = Buffer.from('create');
  const frame = Buffer.alloc(8 + header.length + body.length);
  frame.writeInt32BE(4 + header.length + body.length, 0);
  frame.writeInt32BE(header.length, 4); // serialize type 0 in the high byte
  header.copy(frame, 8);
  body.copy(frame, 8 + header.length);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), host, () => sock.write(frame));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('createTopic: no response')); }, timeoutMs);
    sock.on('data', d => {
      buf = Buffer.concat([ buf, d ]);
      if (buf.length < 8 || buf.length < 4 + buf.readInt32BE(0)) return;
      clearTimeout(timer);
      const hlen = buf.readInt32BE(4) & 0xffffff;
      const resp = JSON.parse(buf.subarray(8, 8 + hlen).toString());
      sock.destroy();
      if (resp.code === 0) resolve(resp);
      else reject(new Error(`createTopic: code ${resp.code} ${resp.remark || ''}`));
    });
    sock.on('error', e => { clearTimeout(timer); reject(e); });
  });
}

module.exports.createTopic = createTopic;
