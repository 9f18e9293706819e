//! Back-pressure for one connection: reading pauses while the peer has too many requests in
//! flight (answers not written yet, parked pulls included) or too many response bytes queued
//! that it has not read, and resumes when either drops below its limit. A peer that stays paused
//! with nothing moving is closed by the idle timeout.
//!
//! The gate also tells the writer whether the reader is in the middle of a run of requests (the
//! frames of one socket read): the writer then waits for the run to end, so that its answers
//! leave in one write (one wake-up of the peer) rather than one write per actor turn.
use futures_util::task::AtomicWaker;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Counters shared by the connection actor, its writer task and its read stream.
pub struct Gate {
    in_flight: AtomicUsize,
    queued: AtomicUsize,
    max_in_flight: usize,
    max_queued: usize,
    /// The writer is gone (peer closed or reset): reading resumes so that the end is seen.
    writer_gone: AtomicBool,
    reader: AtomicWaker,
    /// The read stream's last poll gave a request: more of the same read may follow.
    reading: AtomicBool,
    /// The writer, waiting for the reader to pause.
    writer: AtomicWaker,
}

impl Gate {
    pub fn new(max_in_flight: usize, max_queued: usize) -> Arc<Gate> {
        Arc::new(Gate {
            in_flight: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            max_in_flight: max_in_flight.max(1),
            max_queued,
            writer_gone: AtomicBool::new(false),
            reader: AtomicWaker::new(),
            reading: AtomicBool::new(false),
            writer: AtomicWaker::new(),
        })
    }

    /// Whether the connection may read another request.
    pub fn open(&self) -> bool {
        self.writer_gone.load(Ordering::Acquire)
            || self.in_flight.load(Ordering::Acquire) < self.max_in_flight && self.queued.load(Ordering::Acquire) <= self.max_queued
    }

    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    pub fn end(&self) {
        let _ = self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.reader.wake();
    }

    pub fn queue(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::AcqRel);
    }

    pub fn written(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        self.reader.wake();
    }

    /// The socket can no longer be written: stop holding the reader back.
    pub fn writer_gone(&self) {
        self.writer_gone.store(true, Ordering::Release);
        self.reader.wake();
    }

    /// The reader has stopped (nothing more to read now, paused, ended, or the connection is
    /// closing): the writer writes what it holds.
    pub fn reader_paused(&self) {
        if self.reading.swap(false, Ordering::AcqRel) {
            self.writer.wake();
        }
    }

    /// Whether the reader is in the middle of a run of requests; when it is, `waker` is woken
    /// once it pauses.
    pub fn reader_busy(&self, waker: &std::task::Waker) -> bool {
        if !self.reading.load(Ordering::Acquire) {
            return false;
        }
        self.writer.register(waker);
        // Re-check after registering: a pause in between would otherwise be lost.
        self.reading.load(Ordering::Acquire)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// A stream that yields nothing while its gate is shut.
pub struct Gated<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S> Gated<S> {
    pub fn new(inner: S, gate: Arc<Gate>) -> Self {
        Gated { inner, gate }
    }
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if !self.gate.open() {
            self.gate.reader.register(cx.waker());
            // Re-check after registering: a wake-up in between would otherwise be lost.
            if !self.gate.open() {
                self.gate.reader_paused();
                return Poll::Pending;
            }
        }
        let r = Pin::new(&mut self.inner).poll_next(cx);
        match r {
            Poll::Ready(Some(_)) => self.gate.reading.store(true, Ordering::Release),
            _ => self.gate.reader_paused(),
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn pauses_at_the_limit_and_resumes() {
        let gate = Gate::new(2, 100);
        let mut s = Gated::new(futures_util::stream::iter(0..10), gate.clone());
        assert_eq!(s.next().await, Some(0));
        gate.begin();
        gate.begin();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut s).poll_next(&mut cx).is_pending(), "two in flight: paused");
        gate.end();
        assert_eq!(s.next().await, Some(1));
        gate.queue(101);
        assert!(Pin::new(&mut s).poll_next(&mut cx).is_pending(), "too many bytes queued: paused");
        gate.written(101);
        assert_eq!(s.next().await, Some(2));
        gate.queue(500);
        assert!(Pin::new(&mut s).poll_next(&mut cx).is_pending());
        gate.writer_gone();
        assert_eq!(s.next().await, Some(3), "a dead writer releases the reader");
    }

    #[tokio::test]
    async fn the_writer_is_told_when_a_run_of_requests_ends() {
        let gate = Gate::new(8, 1 << 20);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<i32>();
        let mut s = Gated::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)), gate.clone());
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = futures_util::task::waker(Arc::new(Count(woken.clone())));
        assert!(!gate.reader_busy(&waker), "nothing read yet");
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(s.next().await, Some(1));
        assert!(gate.reader_busy(&waker), "a request was just read: more may follow");
        assert_eq!(s.next().await, Some(2));
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        let noop = futures_util::task::noop_waker();
        assert!(Pin::new(&mut s).poll_next(&mut Context::from_waker(&noop)).is_pending());
        assert_eq!(woken.load(Ordering::SeqCst), 1, "the pause wakes the writer");
        assert!(!gate.reader_busy(&waker));
        tx.send(3).unwrap();
        assert_eq!(s.next().await, Some(3));
        gate.reader_paused(); // the connection closes
        assert!(!gate.reader_busy(&waker));
    }

    struct Count(Arc<AtomicUsize>);
    impl futures_util::task::ArcWake for Count {
        fn wake_by_ref(me: &Arc<Self>) {
            me.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
