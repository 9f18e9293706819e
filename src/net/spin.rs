//! `idleSpin`: a connection thread that has just answered keeps polling its sockets for a moment
//! before it sleeps, for as long as that pays.
//!
//! A request that arrives while its thread sleeps waits for the thread to be woken. On a virtual
//! machine whose idle CPUs halt without polling first (as the benchmark machine's:
//! `haltpoll.guest_halt_poll_ns=0`), that wake-up is a round trip through the host, and it caps
//! one synchronous connection at the machine's echo floor (`ferrocket-bench floor`). With
//! `idleSpin` set, each worker thread runs one task ([`run`]) that, after every run of requests a
//! connection answered ([`touch`]), keeps the thread's runtime polling its sockets (each
//! `yield_now` makes the runtime look for ready sockets without sleeping) for a window, then
//! waits for the next [`touch`] and the thread sleeps as usual.
//!
//! The window adapts as the guest `haltpoll` governor's does ([`Window`]): it starts at nothing,
//! grows (to an eighth of `idleSpin`, then doubling up to it) each time the thread slept and the
//! next request came within `idleSpin` of the last answer (a longer spin would have caught it),
//! and halves each time the gap was longer (down to nothing). A client asking request by request
//! gets a thread that is awake when its next request comes; a broker whose requests come rarely,
//! or in bursts far apart, does not spin at all after a few gaps. The price is CPU: a thread with
//! a request at least every `idleSpin` never sleeps.
use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How long after an answer the spin starts giving the CPU to the process's other ready threads.
const YIELD_AFTER: Duration = Duration::from_micros(5);

/// The spin window of one thread: how long to poll after an answer before sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `idleSpin`: the longest window.
    max: Duration,
    /// The window now.
    now: Duration,
}

impl Window {
    pub fn new(max: Duration) -> Window {
        Window { max, now: Duration::ZERO }
    }

    /// The first window once a spin would have paid.
    fn start(&self) -> Duration {
        self.max / 8
    }

    /// The thread spun for the window without a request and slept; the next request came `gap`
    /// after the last answer. A gap within `idleSpin` grows the window, a longer one halves it.
    pub fn slept(&mut self, gap: Duration) {
        // (the thread spun the whole window before it slept: `gap` is at least the window)
        if gap <= self.max {
            self.now = (self.now * 2).max(self.start()).min(self.max);
        } else {
            self.now /= 2;
            if self.now < self.start() {
                self.now = Duration::ZERO;
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// `idleSpin` on this thread (zero: no spinner runs here, [`touch`] does nothing).
    len: Duration,
    /// The end of the last run of answers.
    last: Option<Instant>,
    /// The spinner, waiting for a touch.
    waker: Option<Waker>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// A connection of this thread has answered a run of requests: poll a while before sleeping.
pub fn touch() {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len.is_zero() {
            return;
        }
        s.last = Some(Instant::now());
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    });
}

fn take_touch() -> Option<Instant> {
    STATE.with(|s| s.borrow_mut().last.take())
}

/// The spinner of one worker thread (spawned on it; runs until the thread's runtime stops).
pub async fn run(len: Duration) {
    STATE.with(|s| s.borrow_mut().len = len);
    let mut window = Window::new(len);
    // the last answer before the thread last went to sleep
    let mut slept_after: Option<Instant> = None;
    loop {
        // sleep until a connection answers something
        let touched = poll_fn(|cx| {
            STATE.with(|s| {
                let mut s = s.borrow_mut();
                match s.last.take() {
                    Some(t) => Poll::Ready(t),
                    None => {
                        s.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
        })
        .await;
        if let Some(before) = slept_after.take() {
            window.slept(touched.saturating_duration_since(before));
        }
        let mut since = touched;
        loop {
            // a touch while spinning moves the end of the spin
            if let Some(t) = take_touch() {
                since = t;
            }
            let idle = since.elapsed();
            if idle >= window.now {
                break;
            }
            // other threads of the process that became ready (the store's flusher, on the same
            // CPU when the broker is pinned to one) run first: the spin only stands in for idling.
            // Not in the first moments after an answer: a thread busy with many connections
            // passes here between every two requests, and the system call would be its cost.
            if idle >= YIELD_AFTER {
                std::thread::yield_now();
            }
            tokio::task::yield_now().await;
        }
        slept_after = Some(since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Sleep `ms` on the runtime and tell how many times its thread went to sleep meanwhile.
    async fn parks_during(parks: &AtomicUsize, ms: u64) -> usize {
        let before = parks.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        parks.load(Ordering::Relaxed) - before
    }

    #[test]
    fn the_window_grows_while_requests_come_back_within_the_spin_and_fades_when_they_do_not() {
        let us = Duration::from_micros;
        let mut w = Window::new(us(200));
        assert_eq!(w.now, Duration::ZERO, "no spin before one would have paid");
        // a request-by-request client: each next request 80 µs after the answer
        w.slept(us(80));
        assert_eq!(w.now, us(25));
        w.slept(us(80));
        assert_eq!(w.now, us(50));
        w.slept(us(80));
        assert_eq!(w.now, us(100));
        // a gap just within idleSpin: the longest window
        w.slept(us(190));
        assert_eq!(w.now, us(200));
        w.slept(us(150));
        assert_eq!(w.now, us(200), "never beyond idleSpin");
        // requests far apart: the window halves each time, then is gone
        w.slept(Duration::from_millis(5));
        assert_eq!(w.now, us(100));
        w.slept(Duration::from_millis(5));
        w.slept(Duration::from_millis(5));
        assert_eq!(w.now, us(25));
        w.slept(Duration::from_secs(1));
        assert_eq!(w.now, Duration::ZERO);
        w.slept(Duration::from_secs(1));
        assert_eq!(w.now, Duration::ZERO);
    }

    #[test]
    fn a_thread_whose_requests_come_back_within_the_spin_stays_awake_then_sleeps() {
        let parks = Arc::new(AtomicUsize::new(0));
        let p = parks.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(move || {
                p.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            // an idleSpin of 1 s: its first window (125 ms) is far longer than the 50 ms looked
            // at, so a busy machine cannot end it first
            tokio::task::spawn_local(run(Duration::from_secs(1)));
            // nothing touched: a sleep puts the thread to sleep
            assert!(parks_during(&parks, 10).await >= 1);
            // the first answer: no spin yet, the thread sleeps
            touch();
            assert!(parks_during(&parks, 50).await >= 1);
            // the next answer came within idleSpin of it: now the thread polls after answering
            touch();
            assert_eq!(parks_during(&parks, 50).await, 0);
            // the spin is over (125 ms after the touch): it sleeps again
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(parks_during(&parks, 10).await >= 1);
        });
    }

    #[test]
    fn without_a_spin_a_touch_does_nothing() {
        std::thread::spawn(|| {
            touch();
            STATE.with(|s| assert!(s.borrow().last.is_none()));
        })
        .join()
        .unwrap();
    }
}
