//! `idleSpin`: a connection thread that has just answered keeps polling its sockets for a moment
//! before it sleeps.
//!
//! A request that arrives while its thread sleeps waits for the thread to be woken. On a virtual
//! machine whose idle CPUs halt without polling first (as the benchmark machine's:
//! `haltpoll.guest_halt_poll_ns=0`), that wake-up is a round trip through the host, and it caps
//! one synchronous connection at the machine's echo floor (`ferrocket-bench floor`). With
//! `idleSpin` set, each worker thread runs one task ([`run`]) that, after every run of requests a
//! connection answered ([`touch`]), keeps the thread's runtime polling its sockets (each
//! `yield_now` makes the runtime look for ready sockets without sleeping) until no request came
//! for `idleSpin`; then it waits for the next [`touch`] and the thread sleeps as usual. The price
//! is CPU: a thread with a request at least every `idleSpin` never sleeps. Off (0) by default.
use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

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

/// A connection of this thread has answered a run of requests: keep polling for `idleSpin`.
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

/// The spinner of one worker thread (spawned on it; runs until the thread's runtime stops).
pub async fn run(len: Duration) {
    STATE.with(|s| s.borrow_mut().len = len);
    loop {
        // sleep until a connection answers something
        poll_fn(|cx| {
            STATE.with(|s| {
                let mut s = s.borrow_mut();
                if s.last.take().is_some() {
                    Poll::Ready(())
                } else {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await;
        let mut since = Instant::now();
        loop {
            // a touch while spinning moves the end of the spin
            if let Some(t) = STATE.with(|s| s.borrow_mut().last.take()) {
                since = t;
            }
            if since.elapsed() >= len {
                break;
            }
            // other threads of the process that became ready (the store's flusher, on the same
            // CPU when the broker is pinned to one) run first: the spin only stands in for idling
            std::thread::yield_now();
            tokio::task::yield_now().await;
        }
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
    fn a_touch_keeps_the_thread_awake_for_the_spin_then_it_sleeps() {
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
            // a spin far longer than the 50 ms looked at, so a busy machine cannot end it first
            tokio::task::spawn_local(run(Duration::from_millis(1000)));
            // nothing touched: a sleep puts the thread to sleep
            assert!(parks_during(&parks, 10).await >= 1);
            // touched: the thread polls instead of sleeping until the spin ends
            touch();
            assert_eq!(parks_during(&parks, 50).await, 0);
            // the spin is over (1 s after the touch): it sleeps again
            tokio::time::sleep(Duration::from_millis(1000)).await;
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
