use super::*;

fn cfg(dir: &Path) -> TimerConfig {
    TimerConfig { dir: dir.join("timer"), precision_ms: 100, slots: 64, entries_per_segment: 8 }
}

fn ck(enqueue_offset: i64, dequeue_ms: i64) -> Checkpoint {
    Checkpoint { enqueue_offset, log_end: 0, dequeue_ms, rebuild_upto: -1, rebuild_skip_ms: 0 }
}

fn entry(due_ms: i64, slot_ms: i64, off: i64) -> Entry {
    Entry { flags: 0, key_hash: off as u32, prev: -1, due_ms, slot_ms, commit_log_offset: off }
}

#[test]
fn entries_chain_per_slot_in_insert_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, opened) = TimerStore::open(cfg(dir.path())).unwrap();
    assert_eq!(opened, Opened::Fresh);
    for i in 0..30 {
        let slot = 1000 + (i % 3) * 100;
        t.add(entry(slot + i, slot, i), 0).unwrap();
    }
    assert_eq!(t.pending(), 30);
    let offs: Vec<i64> = t.slot_entries(1100).unwrap().iter().map(|(_, e)| e.commit_log_offset).collect();
    assert_eq!(offs, (0..30).filter(|i| i % 3 == 1).collect::<Vec<_>>());
    t.save(ck(5, 1000), 0, true).unwrap();
    assert_eq!(t.slot_entries(1200).unwrap().len(), 10);
    assert!(t.slot_entries(1300).unwrap().is_empty());
    // the same index one turn of the wheel later is another slot
    assert!(t.slot_entries(1100 + 64 * 100).unwrap().is_empty());
}

#[test]
fn reopen_cuts_what_the_checkpoint_does_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut t, _) = TimerStore::open(cfg(dir.path())).unwrap();
        for i in 0..5 {
            t.add(entry(1000, 1000, i), 0).unwrap();
        }
        t.save(ck(5, 900), 0, false).unwrap();
        for i in 5..9 {
            t.add(entry(1000, 1000, i), 0).unwrap();
            t.add(entry(2000, 2000, i), 0).unwrap();
        }
        // written to the files, but not checkpointed (as after kill -9)
        t.log.flush_buf(0).unwrap();
        t.wheel.flush().unwrap();
    }
    let (mut t, opened) = TimerStore::open(cfg(dir.path())).unwrap();
    assert_eq!(opened, Opened::Recovered);
    assert_eq!(t.checkpoint().enqueue_offset, 5);
    assert_eq!(t.checkpoint().dequeue_ms, 900);
    assert_eq!(t.slot_entries(1000).unwrap().len(), 5);
    assert!(t.slot_entries(2000).unwrap().is_empty());
    assert_eq!(t.pending(), 5);
    // appending continues where the checkpoint ended
    t.add(entry(1000, 1000, 42), 0).unwrap();
    let offs: Vec<i64> = t.slot_entries(1000).unwrap().iter().map(|(_, e)| e.commit_log_offset).collect();
    assert_eq!(offs, vec![0, 1, 2, 3, 4, 42]);
}

#[test]
fn recalled_entries_stay_chained_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = TimerStore::open(cfg(dir.path())).unwrap();
    let p = t.add(entry(1000, 1000, 1), 0).unwrap();
    t.add(entry(1000, 1000, 2), 0).unwrap();
    assert!(t.mark_deleted(p, 0).unwrap());
    assert!(!t.mark_deleted(p, 0).unwrap(), "twice is a no-op");
    let v = t.slot_entries(1000).unwrap();
    assert_eq!(v.len(), 2);
    assert!(v[0].1.flags & FLAG_DELETED != 0);
    assert_eq!(t.pending(), 1);
    assert_eq!(t.slot_len(1000), 1);
}

#[test]
fn damaged_files_are_replaced_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut t, _) = TimerStore::open(cfg(dir.path())).unwrap();
        t.add(entry(1000, 1000, 1), 0).unwrap();
        t.save(ck(1, 700), 0, true).unwrap();
    }
    // a corrupt wheel slot
    let wheel = dir.path().join("timer/wheel");
    let mut b = std::fs::read(&wheel).unwrap();
    let slot = 1000 / 100;
    let i = 32 + 32 * (slot % 64) as usize;
    b[i + 9] ^= 0xFF;
    std::fs::write(&wheel, &b).unwrap();
    let (t, opened) = TimerStore::open(cfg(dir.path())).unwrap();
    assert!(matches!(opened, Opened::Damaged { dequeue_ms: 700, .. }), "{opened:?}");
    assert_eq!(t.pending(), 0);
    drop(t);
    // garbage checkpoint
    std::fs::write(dir.path().join("timer/checkpoint"), b"garbage").unwrap();
    let (_, opened) = TimerStore::open(cfg(dir.path())).unwrap();
    assert!(matches!(opened, Opened::Damaged { dequeue_ms: 0, .. }), "{opened:?}");
    // another precision
    let mut c = cfg(dir.path());
    c.precision_ms = 1000;
    let (_, opened) = TimerStore::open(c).unwrap();
    assert!(matches!(&opened, Opened::Damaged { reason, .. } if reason.contains("timerPrecisionMs")), "{opened:?}");
}

#[test]
fn old_segments_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (mut t, _) = TimerStore::open(cfg(dir.path())).unwrap();
    for i in 0..20 {
        t.add(entry(1000, 1000, i), 10).unwrap();
    }
    t.save(ck(20, 0), 50, false).unwrap();
    assert_eq!(t.expire(5), 0);
    assert_eq!(t.expire(100), 2, "the two full segments, not the active one");
    assert_eq!(t.log_bytes(), 4 * ENTRY_SIZE);
}

#[test]
fn chains_read_back_across_read_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.entries_per_segment = 1 << 20;
    let (mut t, _) = TimerStore::open(c).unwrap();
    for i in 0..5000 {
        t.add(entry(1000, 1000 + (i % 2) * 100, i), 0).unwrap();
    }
    t.save(ck(1, 0), 0, false).unwrap();
    assert_eq!(t.slot_entries(1000).unwrap().len(), 2500);
    assert_eq!(t.slot_entries(1100).unwrap().len(), 2500);
}
