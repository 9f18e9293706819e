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

/// What a [`Gated`] stream yields: an item of the stream under it, or the end of a run of items
/// (the stream under it has nothing more now, has ended, or the gate shut).
#[derive(Debug, PartialEq, Eq)]
pub enum Read<T> {
    Item(T),
    /// The run of items since the last pause is over: the reader hands on what it gathered for
    /// them (their answers, written as one frame run) before it waits.
    RunEnd,
}

/// A stream that yields nothing while its gate is shut, and marks where each run of items ends.
pub struct Gated<S> {
    inner: S,
    gate: Arc<Gate>,
    /// An item was yielded since the last [`Read::RunEnd`].
    in_run: bool,
    /// The stream under it has ended (it is not polled again).
    done: bool,
}

impl<S> Gated<S> {
    pub fn new(inner: S, gate: Arc<Gate>) -> Self {
        Gated { inner, gate, in_run: false, done: false }
    }

    /// The reader stops here: end the run first if one is open, else `then`.
    fn pause<T>(&mut self, then: Poll<Option<Read<T>>>) -> Poll<Option<Read<T>>> {
        self.gate.reader_paused();
        if std::mem::take(&mut self.in_run) {
            Poll::Ready(Some(Read::RunEnd))
        } else {
            then
        }
    }
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = Read<S::Item>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return self.pause(Poll::Ready(None));
        }
        if !self.gate.open() {
            self.gate.reader.register(cx.waker());
            // Re-check after registering: a wake-up in between would otherwise be lost.
            if !self.gate.open() {
                // a run ended here is followed by a poll, which finds the gate still shut
                return self.pause(Poll::Pending);
            }
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                self.gate.reading.store(true, Ordering::Release);
                self.in_run = true;
                Poll::Ready(Some(Read::Item(item)))
            }
            Poll::Ready(None) => {
                self.done = true;
                self.pause(Poll::Ready(None))
            }
            // the stream under it has registered the waker: a run ended here is followed by a
            // poll, which registers it again
            Poll::Pending => self.pause(Poll::Pending),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    use Read::{Item, RunEnd};

    fn poll<S: Stream + Unpin>(s: &mut S) -> Poll<Option<S::Item>> {
        let waker = futures_util::task::noop_waker();
        Pin::new(s).poll_next(&mut Context::from_waker(&waker))
    }

    #[tokio::test]
    async fn pauses_at_the_limit_and_resumes() {
        let gate = Gate::new(2, 100);
        let mut s = Gated::new(futures_util::stream::iter(0..10), gate.clone());
        assert_eq!(s.next().await, Some(Item(0)));
        gate.begin();
        gate.begin();
        assert_eq!(poll(&mut s), Poll::Ready(Some(RunEnd)), "two in flight: the run ends");
        assert!(poll(&mut s).is_pending(), "then paused");
        gate.end();
        assert_eq!(s.next().await, Some(Item(1)));
        gate.queue(101);
        assert_eq!(poll(&mut s), Poll::Ready(Some(RunEnd)));
        assert!(poll(&mut s).is_pending(), "too many bytes queued: paused");
        gate.written(101);
        assert_eq!(s.next().await, Some(Item(2)));
        gate.queue(500);
        assert_eq!(s.next().await, Some(RunEnd));
        assert!(poll(&mut s).is_pending());
        gate.writer_gone();
        assert_eq!(s.next().await, Some(Item(3)), "a dead writer releases the reader");
    }

    #[tokio::test]
    async fn a_stream_that_ends_ends_its_run_first() {
        let gate = Gate::new(8, 1 << 20);
        let mut s = Gated::new(futures_util::stream::iter(0..2), gate.clone());
        let got: Vec<_> = (&mut s).collect().await;
        assert_eq!(got, vec![Item(0), Item(1), RunEnd]);
        assert_eq!(s.next().await, None, "and stays ended");
        let mut empty = Gated::new(futures_util::stream::iter(0..0), gate);
        assert_eq!(empty.next().await, None, "no run, no run end");
    }

    #[tokio::test]
    async fn the_writer_is_told_when_a_run_of_requests_ends() {
        let gate = Gate::new(8, 1 << 20);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<i32>();
        let mut s = Gated::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)), gate.clone());
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = futures_util::task::waker(Arc::new(Count(woken.clone())));
        assert!(!gate.reader_busy(&waker), "nothing read yet");
        assert!(poll(&mut s).is_pending(), "nothing to read: no run to end");
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(s.next().await, Some(Item(1)));
        assert!(gate.reader_busy(&waker), "a request was just read: more may follow");
        assert_eq!(s.next().await, Some(Item(2)));
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        assert_eq!(poll(&mut s), Poll::Ready(Some(RunEnd)), "nothing more now: the run ends");
        assert_eq!(woken.load(Ordering::SeqCst), 1, "the pause wakes the writer");
        assert!(!gate.reader_busy(&waker));
        assert!(poll(&mut s).is_pending(), "then the reader waits");
        tx.send(3).unwrap();
        assert_eq!(s.next().await, Some(Item(3)));
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
