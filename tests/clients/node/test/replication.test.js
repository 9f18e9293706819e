'use strict';
// Master/slave failover with ali-ons (docs/replication.md): a SYNC_MASTER and its slave as two
// `ferrocket dev` processes on loopback. The producer's sends are all SEND_OK (so each message is on
// the slave); the master is killed with SIGKILL while a slow consumer is half-way through; that
// consumer carries on from the slave, and a new group reads every message from the slave alone.
const { test } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Producer, Consumer, Message } = require('ali-ons');
const { startBroker, waitUntil, createTopic } = require('../lib/broker');

const quiet = { info() {}, warn() {}, debug() {}, error() {} };
const httpclient = { request() { throw new Error('unused'); } };
const uid = prefix => `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
const sleep = ms => new Promise(r => setTimeout(r, ms));

const COMMON = 'mappedFileSizeCommitLog=65536\nmaxMessageSize=16384\nregisterNameServerPeriod=1000\n' +
  'haSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\n';

function withConf(text) {
  return dir => {
    fs.writeFileSync(path.join(dir, 'broker.conf'), text);
    return [ '--config', path.join(dir, 'broker.conf') ];
  };
}

// A push consumer that takes one message at a time (pull batch 1, flow control past 1 queued) and
// follows route changes every second.
function consumer(namesrv, group) {
  return new Consumer({
    httpclient,
    nameSrv: namesrv,
    consumerGroup: group,
    isBroadcast: false,
    logger: quiet,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    pollNameServerInteval: 1000,
    pullBatchSize: 1,
    parallelConsumeLimit: 1,
    pullThresholdForQueue: 1,
    pullTimeDelayMillsWhenFlowControl: 50,
    pullTimeDelayMillsWhenException: 200,
  });
}

test('SEND_OK messages of a SYNC_MASTER are consumed from the slave after kill -9 of the master', { timeout: 240000 }, async t => {
  // The slave first: its name server serves the clients and outlives the master, which registers there.
  const slave = await startBroker(withConf(COMMON + 'brokerRole=SLAVE\nbrokerId=1\n'));
  const master = await startBroker(withConf(COMMON + `brokerRole=SYNC_MASTER\nnamesrvAddr=${slave.namesrv}\n`));
  const topic = uid('node_ha');
  const producer = new Producer({ httpclient, nameSrv: slave.namesrv, producerGroup: uid('node_ha_pg'), logger: quiet });
  const clients = [ producer ];
  t.after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await master.stop();
    await slave.stop();
  });
  // Client-side errors (connections to the dead master) are expected; they are only reported.
  const errors = [];
  const watch = c => c.on('error', err => errors.push(String(err && err.message)));
  watch(producer);
  const logs = () => '\nclient errors: ' + JSON.stringify(errors.slice(-5)) +
    '\nmaster stderr:\n' + master.tail() + '\nslave stderr:\n' + slave.tail();

  // ali-ons needs the topic to exist. A SYNC_MASTER answers SLAVE_NOT_AVAILABLE until the slave
  // follows, so creating it succeeds (code 0) only once the pair is replicating.
  const created = await waitUntil(() => createTopic(master.broker, topic).then(() => true, () => false), 60000, 300);
  assert.ok(created, 'the SYNC_MASTER never acknowledged a send (slave not following)' + logs());
  await producer.ready();

  const got = new Map(); // body -> times received, per group
  const gotA = new Map();
  const a = consumer(slave.namesrv, uid('node_ha_cg'));
  watch(a);
  clients.push(a);
  a.subscribe(topic, '*', async msg => {
    const body = msg.body.toString();
    if (body.startsWith('ha ')) gotA.set(body, (gotA.get(body) || 0) + 1);
    await sleep(150); // slow: most messages are still on the brokers when the master dies
  });
  await a.ready();

  const N = 60;
  const acked = [];
  for (let i = 0; i < N; i++) {
    const body = `ha ${i}`;
    const res = await producer.send(new Message(topic, 'TagA', body));
    assert.strictEqual(res.sendStatus, 'SEND_OK', `send ${i}: ${res.sendStatus}` + logs());
    acked.push(body);
  }
  // The producer stays open: ali-ons shares one client instance per process, and a closed
  // producer would rethrow that instance's connection errors with no listener.
  await master.kill();
  const beforeKill = gotA.size;

  const missing = m => acked.filter(b => !m.has(b));
  assert.ok(await waitUntil(() => missing(gotA).length === 0, 90000, 200),
    `the consumer that was reading from the master did not finish from the slave: had ${beforeKill} at the kill, ` +
    `missing ${JSON.stringify(missing(gotA).slice(0, 10))}` + logs());
  assert.ok(beforeKill < N, `the consumer had every message before the kill (${beforeKill}): nothing was read from the slave`);

  // A group that starts after the master is gone reads everything from the slave.
  const b = consumer(slave.namesrv, uid('node_ha_cg2'));
  watch(b);
  clients.push(b);
  b.subscribe(topic, '*', async msg => {
    const body = msg.body.toString();
    if (body.startsWith('ha ')) got.set(body, (got.get(body) || 0) + 1);
  });
  await b.ready();
  assert.ok(await waitUntil(() => missing(got).length === 0, 60000, 200),
    `a new group read ${got.size} of ${N} from the slave; missing ${JSON.stringify(missing(got).slice(0, 10))}` + logs());
  for (const body of got.keys()) assert.ok(acked.includes(body), `unexpected body ${body}`);
});
