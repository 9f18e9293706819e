'use strict';
// ferrocket's gRPC endpoint through the official 5.x Node.js SDK: a producer sends, a
// SimpleConsumer receives with a tag filter, acks, and an un-acked message comes back after its
// invisible duration with the next attempt count.
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Producer, SimpleConsumer } = require('rocketmq-client-nodejs');

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const TOPIC = 'NodeSdkTopic';

// `ferrocket dev --topic TOPIC:4` (plus `extra` arguments); resolves with its ready line's
// addresses (grpcAddr included).
async function startBroker(extra = [], dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocket-node5-'))) {
  const bin = process.env.FERROCKET_BIN || path.join(REPO, 'target', 'debug', 'ferrocket');
  const logPath = path.join(dir, 'ferrocket.stderr.log');
  const log = fs.openSync(logPath, 'a');
  const child = spawn(bin, [ 'dev', '--data-dir', path.join(dir, 'data'), '--topic', `${TOPIC}:4`, ...extra ], { stdio: [ 'ignore', 'pipe', log ] });
  fs.closeSync(log);
  const tail = () => { try { return fs.readFileSync(logPath, 'utf8').split('\n').slice(-60).join('\n'); } catch (_) { return ''; } };
  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready line with grpcAddr within 30 s:\n' + tail())), 30000);
    readline.createInterface({ input: child.stdout }).on('line', l => {
      try {
        const v = JSON.parse(l);
        if (typeof v.grpcAddr === 'string') { clearTimeout(timer); resolve(v); }
      } catch (_) { /* not the ready line */ }
    });
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`ferrocket dev exited with ${code}:\n` + tail())); });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise(r => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    await exited;
    clearTimeout(timer);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { grpc: info.grpcAddr, stop, tail };
}

async function receiveUntil(consumer, n, invisibleMs, deadlineMs) {
  const got = [];
  const end = Date.now() + deadlineMs;
  while (got.length < n && Date.now() < end) got.push(...await consumer.receive(16, invisibleMs));
  return got;
}

test('send, receive with a tag filter, ack, redelivery with the attempt count', { timeout: 120000 }, async t => {
  const broker = await startBroker();
  const producer = new Producer({ endpoints: broker.grpc });
  const consumer = new SimpleConsumer({
    consumerGroup: 'node_sdk_group',
    endpoints: broker.grpc,
    subscriptions: new Map().set(TOPIC, 'TagA'),
    awaitDuration: 2000,
  });
  t.after(async () => {
    await consumer.shutdown().catch(() => {});
    await producer.shutdown().catch(() => {});
    await broker.stop();
  });
  await producer.startup();
  await consumer.startup();

  const ids = new Set();
  for (let i = 0; i < 3; i++) {
    const r = await producer.send({ topic: TOPIC, tag: 'TagA', keys: [ `k${i}` ], body: Buffer.from(`node ${i}`) });
    ids.add(r.messageId);
  }
  await producer.send({ topic: TOPIC, tag: 'TagB', body: Buffer.from('other') });

  const got = await receiveUntil(consumer, 3, 20000, 20000);
  assert.deepStrictEqual(new Set(got.map(m => m.messageId)), ids);
  assert.deepStrictEqual(got.map(m => m.body.toString()).sort(), [ 'node 0', 'node 1', 'node 2' ]);
  for (const m of got) {
    assert.strictEqual(m.tag, 'TagA');
    assert.strictEqual(m.deliveryAttempt, 1);
  }
  // ack two, leave one: it comes back after its invisible duration (the broker's minimum, 10 s)
  await consumer.ack(got[0]);
  await consumer.ack(got[1]);
  const again = await receiveUntil(consumer, 1, 20000, 40000);
  assert.deepStrictEqual(again.map(m => m.messageId), [ got[2].messageId ], 'broker stderr:\n' + broker.tail());
  assert.strictEqual(again[0].deliveryAttempt, 2);
  await consumer.ack(again[0]);
});

test('ACL: a producer signing with sessionCredentials is served, unsigned and wrong secrets are refused', { timeout: 120000 }, async t => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocket-node5-acl-'));
  fs.writeFileSync(path.join(dir, 'plain_acl.yml'), [
    'accounts:',
    '  - accessKey: nodeSdkUser',
    '    secretKey: node-sdk-secret',
    '    defaultTopicPerm: DENY',
    '    defaultGroupPerm: SUB',
    '    topicPerms:',
    `      - ${TOPIC}=PUB|SUB`,
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'broker.conf'), `aclEnable=true\naclFilePath=${path.join(dir, 'plain_acl.yml')}\n`);
  const broker = await startBroker([ '--config', path.join(dir, 'broker.conf') ], dir);
  t.after(() => broker.stop());

  const signed = new Producer({ endpoints: broker.grpc, sessionCredentials: { accessKey: 'nodeSdkUser', accessSecret: 'node-sdk-secret' } });
  await signed.startup();
  const r = await signed.send({ topic: TOPIC, tag: 'TagA', body: Buffer.from('signed') });
  assert.ok(r.messageId, 'a signed send is answered with a message id');
  await signed.shutdown().catch(() => {});

  for (const sessionCredentials of [ undefined, { accessKey: 'nodeSdkUser', accessSecret: 'wrong-secret' } ]) {
    const p = new Producer({ endpoints: broker.grpc, sessionCredentials, requestTimeout: 5000 });
    let refused = null;
    try {
      await p.startup();
      await p.send({ topic: TOPIC, tag: 'TagA', body: Buffer.from('refused') });
    } catch (e) {
      refused = e;
    }
    await p.shutdown().catch(() => {});
    assert.ok(refused, `a producer with credentials ${JSON.stringify(sessionCredentials)} could send`);
  }
  assert.match(broker.tail(), /authentication failed|UNAUTHENTICATED|refused/i, 'the broker logs the refusals');
});
