//! The console's pages, server-rendered with `maud` (every value escaped): the broker, topics,
//! consumer groups, message lookup, traces, and the reset-offset and test-message forms.
use super::chart::line_chart;
use crate::codec::message::{parse_properties, prop};
use crate::codec::stored::StoredMessage;
use crate::codec::trace::TraceRecord;
use crate::core::progress::QueueProgress;
use crate::core::topics::{perm, DLQ_PREFIX, RETRY_PREFIX};
use crate::core::Core;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

/// Rows a list page shows at most (narrow it with the filter box).
pub const MAX_ROWS: usize = 500;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2125}\
nav{background:#1d2b3a;padding:8px 16px}nav a{color:#fff;margin-right:16px;text-decoration:none}nav b{color:#f0a020;margin-right:24px}\
main{padding:16px 24px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}\
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#6a737d}.err{color:#b31d28}.ok{color:#22863a}\
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;word-break:break-all;max-width:1000px}form.inline{display:inline}\
fieldset{border:1px solid #d0d7de;margin:12px 0;max-width:760px}label{display:inline-block;min-width:110px}input,select{margin:2px 0}";

/// The page frame: navigation, title, content.
pub fn page(core: &Core, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · ferrocket " (core.identity.broker_name) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                nav {
                    b { "ferrocket" }
                    a href="/" { "Broker" }
                    a href="/cluster" { "Cluster" }
                    a href="/topics" { "Topics" }
                    a href="/groups" { "Consumer groups" }
                    a href="/messages" { "Messages" }
                    a href="/trace" { "Trace" }
                    a href="/send" { "Send" }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn error_page(core: &Core, title: &str, msg: &str) -> Markup {
    page(core, title, html! { p.err #error { (msg) } })
}

/// `ms` since the epoch as RFC 3339 (UTC, milliseconds); empty for 0.
pub fn time(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

fn perm_text(p: i32) -> String {
    format!("{}{}", if p & perm::READ != 0 { "R" } else { "-" }, if p & perm::WRITE != 0 { "W" } else { "-" })
}

/// A name as a query-string value (topics and groups may hold `%`).
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn is_system_topic(t: &str) -> bool {
    t.starts_with(RETRY_PREFIX) || t.starts_with(DLQ_PREFIX) || t.starts_with("rmq_sys_") || t.starts_with("RMQ_SYS_") || t.contains("SCHEDULE_TOPIC") || t == "TBW102"
}

/// A list page's filter box (and `extra` inputs).
fn filter_form(action: &str, filter: &str, extra: Markup) -> Markup {
    html! {
        form method="get" action=(action) {
            input type="text" name="q" value=(filter) placeholder="filter";
            (extra)
            button type="submit" { "Filter" }
        }
    }
}

/// The broker: identity, addresses, store, counts.
pub fn overview(core: &Core, now: i64) -> Markup {
    let cfg = core.config();
    let id = &core.identity;
    let (producers, consumers) = core
        .clients
        .registry
        .read()
        .map(|r| (r.producers.values().map(|p| p.channels.len()).sum::<usize>(), r.consumers.values().map(|c| c.channels.len()).sum::<usize>()))
        .unwrap_or((0, 0));
    let store = &core.store;
    let backlog = core.backlogs();
    let rows: Vec<(&str, String)> = vec![
        ("Cluster", id.cluster.clone()),
        ("Broker name", id.broker_name.clone()),
        ("Broker id", id.broker_id.to_string()),
        ("Address", id.broker_addr.clone()),
        ("Name servers", cfg.namesrv_addrs().join(";")),
        ("Version", format!("ferrocket {}", env!("CARGO_PKG_VERSION"))),
        ("Up for", humantime::format_duration(Duration::from_secs(core.started_at.elapsed().as_secs())).to_string()),
        ("Topics", core.topics.all().len().to_string()),
        ("Subscription groups", core.groups.all().len().to_string()),
        ("Producer connections", producers.to_string()),
        ("Consumer connections", consumers.to_string()),
        ("Commit log bytes", (store.max_commit_log_offset() - store.min_commit_log_offset()).max(0).to_string()),
        ("Not yet flushed (bytes)", store.flush_behind_bytes().to_string()),
        ("Parked pulls and pops", core.waiters.total().to_string()),
        ("POP messages in flight", core.pop.inflight_total().to_string()),
        ("Delayed messages waiting (delay levels)", backlog.delay_levels.to_string()),
        ("Timer messages waiting", backlog.timers.to_string()),
        ("Half messages not yet checked", backlog.half.to_string()),
        ("Flush", format!("{:?}", cfg.flush_disk_type)),
        ("Now", time(now)),
    ];
    page(
        core,
        &format!("Broker {}", id.broker_name),
        html! {
            table #broker { @for (k, v) in &rows { tr { th { (k) } td { (v) } } } }
        },
    )
}

/// The clusters and brokers a name server knows (`via` answered), this broker marked.
pub fn cluster(core: &Core, via: &str, info: Result<&crate::codec::body::ClusterInfo, &str>) -> Markup {
    let me = &core.identity.broker_addr;
    page(
        core,
        "Cluster",
        html! {
            @match info {
                Err(e) => { p.err #error { "No name server answered: " (e) } }
                Ok(info) => {
                    p.muted { "As name server " (via) " sees it." }
                    table #brokers {
                        tr { th { "Cluster" } th { "Broker name" } th { "Broker id" } th { "Address" } th { "" } }
                        @for (cluster, names) in &info.cluster_addr_table {
                            @for name in names {
                                @if let Some(b) = info.broker_addr_table.get(name) {
                                    @for (id, addr) in &b.broker_addrs {
                                        tr data-broker=(name) {
                                            td { (cluster) } td { (name) } td.n { (id) } td.addr { (addr) }
                                            td { @if addr == me { strong { "this broker" } } @else { (if *id == 0 { "master" } else { "slave" }) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Every topic (system topics on request), with queues, offsets, type and messages stored.
pub fn topics(core: &Core, filter: &str, system: bool) -> Markup {
    let stored: HashMap<String, u64> = core.stats.stored_snapshot().into_iter().map(|(t, m, _)| (t, m)).collect();
    let mut all = core.topics.all();
    all.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
    let shown: Vec<_> = all.iter().filter(|t| (system || !is_system_topic(&t.topic_name)) && t.topic_name.contains(filter)).collect();
    page(
        core,
        "Topics",
        html! {
            (filter_form("/topics", filter, html! { label { input type="checkbox" name="system" value="1" checked[system]; " system topics" } }))
            p.muted { (shown.len()) " of " (all.len()) " topics" @if shown.len() > MAX_ROWS { ", first " (MAX_ROWS) " shown" } }
            table #topics {
                tr { th { "Topic" } th { "Read/write queues" } th { "Perm" } th { "Message type" } th { "Messages (max offsets)" } th { "Stored since start" } }
                @for t in shown.iter().take(MAX_ROWS) {
                    @let total: i64 = (0..t.write_queue_nums.max(t.read_queue_nums)).map(|q| core.store.max_offset(&t.topic_name, q).max(0)).sum();
                    tr data-topic=(t.topic_name) {
                        td { a href={ "/topic?name=" (enc(&t.topic_name)) } { (t.topic_name) } }
                        td.n { (t.read_queue_nums) " / " (t.write_queue_nums) }
                        td { (perm_text(t.perm)) }
                        td { (t.message_type.as_deref().unwrap_or("NORMAL")) }
                        td.n.total { (total) }
                        td.n { (stored.get(&t.topic_name).copied().unwrap_or(0)) }
                    }
                }
            }
        },
    )
}

/// One topic: its queues, its throughput chart, the groups that consume it.
pub fn topic(core: &Core, name: &str, now: i64) -> Markup {
    let Some(tc) = core.topics.get(name) else { return error_page(core, "Topic", &format!("No topic {name} on this broker.")) };
    let store = &core.store;
    let groups: Vec<String> = core
        .store
        .meta()
        .consumer_offsets()
        .into_iter()
        .filter(|(_, t, ..)| t == name)
        .map(|(g, ..)| g)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    page(
        core,
        &format!("Topic {name}"),
        html! {
            p { "Queues: " (tc.read_queue_nums) " read / " (tc.write_queue_nums) " write · perm " (perm_text(tc.perm)) " · type " (tc.message_type.as_deref().unwrap_or("NORMAL")) }
            (line_chart("throughput", &format!("Messages stored on {name}"), "msg/s", &core.history.topic_throughput(name), now))
            table #queues {
                tr { th { "Queue" } th { "Min offset" } th { "Max offset" } th { "Last stored" } th { "" } }
                @for q in 0..tc.write_queue_nums.max(tc.read_queue_nums) {
                    @let max = store.max_offset(name, q).max(0);
                    tr {
                        td.n { (q) }
                        td.n { (store.min_offset(name, q).max(0)) }
                        td.n.max { (max) }
                        td { (if max > 0 { time(store.store_time_at(name, q, max - 1).unwrap_or(0)) } else { String::new() }) }
                        td { @if max > 0 { a href={ "/messages?topic=" (enc(name)) "&queue=" (q) "&offset=" (max - 1) } { "last message" } } }
                    }
                }
            }
            h2 { "Consumer groups with offsets" }
            ul { @for g in &groups { li { a href={ "/group?name=" (enc(g)) } { (g) } } } }
        },
    )
}

/// Every consumer group: members online, subscriptions, lag of the online ones.
pub fn groups(core: &Core, filter: &str, now: i64) -> Markup {
    let mut lag: HashMap<String, (i64, i64)> = HashMap::new();
    for l in core.online_lags(now) {
        let e = lag.entry(l.group).or_default();
        e.0 += l.messages;
        e.1 += l.inflight;
    }
    let mut rows: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for g in core.groups.all() {
        rows.entry(g.group_name.clone()).or_default();
    }
    if let Ok(reg) = core.clients.registry.read() {
        for (g, c) in &reg.consumers {
            let row = rows.entry(g.clone()).or_default();
            row.0 = c.channels.len();
            row.1 = c.subscriptions.keys().filter(|t| !t.starts_with(RETRY_PREFIX)).cloned().collect();
            row.1.sort();
        }
    }
    let shown: Vec<_> = rows.iter().filter(|(g, _)| g.contains(filter)).collect();
    page(
        core,
        "Consumer groups",
        html! {
            (filter_form("/groups", filter, html! {}))
            p.muted { (shown.len()) " groups" @if shown.len() > MAX_ROWS { ", first " (MAX_ROWS) " shown" } " · lag is shown for groups with members online" }
            table #groups {
                tr { th { "Group" } th { "Members online" } th { "Subscriptions" } th { "Lag" } th { "In flight (POP)" } }
                @for (g, (members, subs)) in shown.iter().take(MAX_ROWS) {
                    tr data-group=(g) {
                        td { a href={ "/group?name=" (enc(g)) } { (g) } }
                        td.n { (members) }
                        td { (subs.join(", ")) }
                        @match lag.get(*g) {
                            Some((l, i)) => { td.n.lag { (l) } td.n { (i) } }
                            None => { td.muted { "offline" } td { "" } }
                        }
                    }
                }
            }
        },
    )
}

/// One group: members, per-queue progress (the same figures as `consumerProgress`), lag chart,
/// and the reset-offset form.
pub fn group(core: &Core, name: &str, now: i64, read_only: bool) -> Markup {
    let members: Vec<(String, String, String, i32)> = core
        .clients
        .registry
        .read()
        .ok()
        .and_then(|r| r.consumers.get(name).map(|c| c.channels.values().map(|ch| (ch.client_id.clone(), ch.conn.peer.to_string(), ch.language.clone(), ch.version)).collect()))
        .unwrap_or_default();
    let progress: Vec<QueueProgress> = core.group_progress(name);
    if progress.is_empty() && members.is_empty() && core.groups.get(name).is_none() {
        return error_page(core, "Consumer group", &format!("No consumer group {name} on this broker."));
    }
    let total: i64 = progress.iter().map(QueueProgress::lag).sum();
    let inflight: i64 = progress.iter().map(QueueProgress::inflight).sum();
    let topics: std::collections::BTreeSet<&str> = progress.iter().map(|p| p.topic.as_str()).filter(|t| !t.starts_with(RETRY_PREFIX)).collect();
    page(
        core,
        &format!("Consumer group {name}"),
        html! {
            p { "Total lag " strong #total-lag { (total) } " · in flight " strong #inflight { (inflight) } }
            (line_chart("lag", &format!("Lag of {name}"), "messages", &core.history.group_lag(name), now))
            h2 { "Members" }
            @if members.is_empty() { p.muted #members { "No member online." } } @else {
                table #members {
                    tr { th { "Client id" } th { "Address" } th { "Language" } th { "Version" } }
                    @for (id, addr, lang, v) in &members { tr { td { (id) } td { (addr) } td { (lang) } td.n { (v) } } }
                }
            }
            h2 { "Progress per queue" }
            table #progress {
                tr { th { "Topic" } th { "Queue" } th { "Broker offset" } th { "Consumer offset" } th { "Lag" } th { "In flight" } th { "Last consumed message stored at" } }
                @for p in &progress {
                    tr data-topic=(p.topic) data-queue=(p.queue_id) {
                        td { (p.topic) } td.n { (p.queue_id) } td.n { (p.broker_offset) } td.n.consumer-offset { (p.consumer_offset) }
                        td.n.lag { (p.lag()) } td.n { (p.inflight()) } td { (time(p.last_timestamp)) }
                    }
                }
            }
            @if !read_only && !topics.is_empty() {
                fieldset #reset {
                    legend { "Reset offsets by time" }
                    form method="post" action="/group/reset" {
                        input type="hidden" name="group" value=(name);
                        label for="reset-topic" { "Topic" }
                        select #reset-topic name="topic" { @for t in &topics { option value=(t) { (t) } } } br;
                        label for="reset-time" { "To" }
                        input #reset-time type="text" name="time" size="32" placeholder="2026-12-06T10:00:00Z, 15m (ago), or -1 (end)";
                        br;
                        label { "" } label { input type="checkbox" name="force" value="1" checked; " force (also move forward)" }
                        br;
                        button type="submit" { "Review reset…" }
                    }
                }
            }
        },
    )
}

/// The confirmation step of a reset: what will happen, and the button that does it.
pub fn confirm_reset(core: &Core, group: &str, topic: &str, time_text: &str, ts: i64, force: bool) -> Markup {
    page(
        core,
        "Confirm offset reset",
        html! {
            p #confirm-text {
                "Move consumer group " strong { (group) } " on topic " strong { (topic) } " to "
                strong { @if ts == -1 { "the end of every queue" } @else { (time(ts)) } }
                @if force { " (forced: offsets may also move forward)" } "? Members online are told at once."
            }
            form method="post" action="/group/reset" {
                input type="hidden" name="group" value=(group);
                input type="hidden" name="topic" value=(topic);
                input type="hidden" name="time" value=(time_text);
                @if force { input type="hidden" name="force" value="1"; }
                input type="hidden" name="confirm" value="yes";
                button #confirm type="submit" { "Reset offsets" }
                " " a href={ "/group?name=" (enc(group)) } { "Cancel" }
            }
        },
    )
}

pub fn reset_done(core: &Core, group: &str, topic: &str, offsets: &[(i32, i64)], members: usize) -> Markup {
    page(
        core,
        "Offsets reset",
        html! {
            p.ok #reset-done { "Consumer group " (group) " on " (topic) " reset; " (members) " member(s) online told." }
            table #new-offsets { tr { th { "Queue" } th { "New offset" } } @for (q, o) in offsets { tr { td.n { (q) } td.n { (o) } } } }
            p { a href={ "/group?name=" (enc(group)) } { "Back to the group" } }
        },
    )
}

fn body_view(m: &StoredMessage, hex: bool) -> Markup {
    let text = std::str::from_utf8(&m.body).ok().filter(|s| !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')));
    match (text, hex) {
        (Some(s), false) => html! { pre.body data-encoding="text" { (s) } },
        _ => {
            let hex: String = m.body.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().chunks(32).map(|c| c.join(" ")).collect::<Vec<_>>().join("\n");
            html! { pre.body data-encoding="hex" { (hex) } }
        }
    }
}

fn message_view(core: &Core, m: &StoredMessage, hex: bool) -> Markup {
    let props = parse_properties(&m.properties);
    let uniq = props.get(prop::UNIQ_KEY).unwrap_or("").to_string();
    let offset_id = crate::codec::message::offset_msg_id(m.store_host, m.commit_log_offset);
    html! {
        section.message data-msg-id=(uniq) {
            h3 { (m.topic) " · queue " (m.queue_id) " · offset " (m.queue_offset) }
            table {
                tr { th { "Message id" } td.msg-id { (uniq) } }
                tr { th { "Offset message id" } td { (offset_id) } }
                tr { th { "Tags" } td.tags { (props.get(prop::TAGS).unwrap_or("")) } }
                tr { th { "Keys" } td { (props.get(prop::KEYS).unwrap_or("")) } }
                tr { th { "Born" } td { (time(m.born_timestamp)) " from " (m.born_host) } }
                tr { th { "Stored" } td { (time(m.store_timestamp)) " on " (m.store_host) } }
                tr { th { "Reconsume times" } td { (m.reconsume_times) } }
                tr { th { "Body" } td { (m.body.len()) " bytes · " a href={ "/messages?id=" (enc(&offset_id)) "&hex=" (if hex { "0" } else { "1" }) } { @if hex { "as text" } @else { "as hex" } } } }
            }
            (body_view(m, hex))
            details { summary { "Properties (" (props.len()) ")" }
                table.props { @for (k, v) in props.iter() { tr { th { (k) } td { (v) } } } }
            }
            @if !uniq.is_empty() { p { a href={ "/trace?id=" (enc(&uniq)) } { "Trace of this message" } } }
            @let _ = core;
        }
    }
}

/// The lookup forms and, when asked, what they found.
pub fn messages(core: &Core, q: &super::LookupQuery, found: Option<Result<Vec<StoredMessage>, String>>) -> Markup {
    let hex = q.hex.as_deref() == Some("1");
    page(
        core,
        "Messages",
        html! {
            fieldset { legend { "By key" }
                form #by-key method="get" action="/messages" {
                    label { "Topic" } input type="text" name="topic" value=(q.topic.as_deref().unwrap_or("")) required; " "
                    label { "Key" } input type="text" name="key" value=(q.key.as_deref().unwrap_or("")) required; " "
                    button type="submit" { "Find" }
                }
            }
            fieldset { legend { "By message id" }
                form #by-id method="get" action="/messages" {
                    label { "Message id" } input type="text" name="id" size="40" value=(q.id.as_deref().unwrap_or("")) required; " "
                    label { "Topic (optional)" } input type="text" name="topic" value=(q.topic.as_deref().unwrap_or("")); " "
                    button type="submit" { "Find" }
                }
            }
            fieldset { legend { "By queue offset" }
                form #by-offset method="get" action="/messages" {
                    label { "Topic" } input type="text" name="topic" value=(q.topic.as_deref().unwrap_or("")) required; " "
                    label { "Queue" } input type="number" name="queue" min="0" value=(q.queue.map(|v| v.to_string()).unwrap_or_default()) required; " "
                    label { "Offset" } input type="number" name="offset" min="0" value=(q.offset.map(|v| v.to_string()).unwrap_or_default()) required; " "
                    button type="submit" { "Find" }
                }
            }
            @match found {
                None => {}
                Some(Err(e)) => { p.err #error { (e) } }
                Some(Ok(list)) if list.is_empty() => { p #not-found { "No message found." } }
                Some(Ok(list)) => {
                    p #found { (list.len()) " message(s)" }
                    @for m in &list { (message_view(core, m, hex)) }
                }
            }
        },
    )
}

pub fn trace(core: &Core, id: &str, records: &[TraceRecord]) -> Markup {
    page(
        core,
        "Message trace",
        html! {
            form method="get" action="/trace" {
                label { "Message id" } input type="text" name="id" size="40" value=(id) required; " "
                button type="submit" { "Trace" }
            }
            @if !id.is_empty() {
                @if records.is_empty() {
                    p #no-trace { "No trace records for " (id) " in " (crate::core::lookup::DEFAULT_TRACE_TOPIC) " (the client must enable message trace)." }
                } @else {
                    table #trace {
                        tr { th { "Type" } th { "Time" } th { "Group" } th { "Client host" } th { "Cost (ms)" } th { "Success" } th { "Details" } }
                        @for r in records {
                            tr.record data-kind=(r.kind) {
                                td { (r.kind) }
                                td { (r.get("timestamp").and_then(|t| t.parse().ok()).map(time).unwrap_or_default()) }
                                td { (r.get("group").unwrap_or("")) }
                                td { (r.get("clientHost").or(r.get("storeHost")).unwrap_or("")) }
                                td.n { (r.get("costTime").unwrap_or("")) }
                                td { (r.get("success").unwrap_or("")) }
                                td.muted { (r.fields.iter().filter(|(k, _)| !matches!(*k, "timestamp" | "group" | "clientHost" | "costTime" | "success")).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn send_form(core: &Core, read_only: bool, outcome: Option<Result<(String, String, i32, i64), String>>) -> Markup {
    page(
        core,
        "Send a test message",
        html! {
            @match outcome {
                None => {}
                Some(Ok((id, offset_id, q, off))) => {
                    p.ok #sent { "Sent: message id " strong #sent-id { (id) } " to queue " (q) " at offset " (off) ". "
                        a href={ "/messages?id=" (enc(&offset_id)) } { "View it" } }
                }
                Some(Err(e)) => { p.err #error { (e) } }
            }
            @if read_only { p.muted { "The console is read-only (consoleReadOnly=true, or aclEnable=true)." } } @else {
                form #send method="post" action="/send" {
                    label for="s-topic" { "Topic" } input #s-topic type="text" name="topic" required; br;
                    label for="s-tags" { "Tags" } input #s-tags type="text" name="tags"; br;
                    label for="s-keys" { "Keys" } input #s-keys type="text" name="keys" placeholder="space separated"; br;
                    label for="s-body" { "Body" } textarea #s-body name="body" rows="4" cols="60" required {} br;
                    button type="submit" { "Send" }
                }
            }
        },
    )
}
