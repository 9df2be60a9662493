//! A small team of persistent worker threads for the parallel passes.
//!
//! The time loop of a recurrent layer needs the two cores to meet once or twice per time
//! step (every step depends on the previous one), tens of microseconds apart: spawning
//! threads per step (20-50 us each) or parking them between steps would cost as much as the
//! work. So the workers live as long as the process, spin briefly on an atomic counter when
//! idle before they sleep, and a team meets at a spinning [`Team::sync`] barrier.
//!
//! A team is worth its barriers only while its members run at the same time. On a machine
//! busier than its cores (other programs, parallel test threads), a member is often
//! descheduled and every barrier then waits a time slice (milliseconds) for it: measured
//! on 2 cores under a load of 8, a 2-thread LSTM inference ran 8x slower than one thread.
//! So [`team`] watches its barriers: when many waits had to give up spinning and yield, the
//! next calls run solo (see [`Guard`]). The split of the work never depends on the team's
//! size, so this changes the speed, never the bits.
//!
//! Nesting runs inline: inside a team (the two directions of a bidirectional layer run as a
//! team of two), a further team has one member, so every kernel also works with one.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

thread_local! {
    /// True on pool workers and on a caller while it leads a team.
    static IN_TEAM: Cell<bool> = const { Cell::new(false) };
}

static THREADS: AtomicUsize = AtomicUsize::new(1);

/// The most threads a team may have: each is an OS thread with its own stack, and far more
/// than the cores only adds meetings (100,000 once failed to spawn and panicked).
pub const MAX_THREADS: usize = 256;

/// Sets how many threads large matrix products may use (1 to [`MAX_THREADS`], clamped).
pub fn set_threads(n: usize) {
    THREADS.store(n.clamp(1, MAX_THREADS), Ordering::Relaxed);
}

/// The number of threads large products use.
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// How many teams have run with more than one member (for tests and diagnostics).
static PARALLEL_TEAMS: AtomicUsize = AtomicUsize::new(0);

/// How many teams so far ran with more than one member: tests use it to check that a
/// parallel path was really taken.
pub fn parallel_teams() -> usize {
    PARALLEL_TEAMS.load(Ordering::Relaxed)
}

/// Spins this many times on a flag before yielding the core (about a millisecond). Long,
/// on purpose: on a loaded machine `yield` hands the core to another process for a whole
/// time slice (milliseconds), after which the partner waits for us instead; a member that
/// is a little late (tens of microseconds) must find the other still spinning.
const SPINS: usize = 20_000;
/// Idle workers spin this many rounds (about 100 us) before sleeping on the condvar.
const IDLE_SPINS: usize = 50_000;

/// One member's view of a running team: its index, the team's size, and the barrier.
pub struct Team<'a> {
    /// This member's index, `0..size` (the caller is 0).
    pub index: usize,
    /// How many members run concurrently.
    pub size: usize,
    barrier: &'a Barrier,
}

impl Team<'_> {
    /// Waits until every member of the team has reached this point (a no-op for a team of
    /// one). Memory written before it by any member is visible to all after it.
    pub fn sync(&self) {
        if self.size > 1 {
            self.barrier.wait(self.size);
        }
    }
    /// This member's share of `0..n` in contiguous chunks, each a multiple of `align`
    /// (except the last): the split the kernels use, so that it never depends on timing.
    pub fn share(&self, n: usize, align: usize) -> std::ops::Range<usize> {
        split(n, align, self.size, self.index)
    }
}

/// Part `i` of `parts` contiguous chunks of `0..n`, each a multiple of `align` units long
/// except the last (units of `align` spread as evenly as possible).
pub fn split(n: usize, align: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
    let align = align.max(1);
    let units = n.div_ceil(align);
    let (q, r) = (units / parts, units % parts);
    let start = i * q + i.min(r);
    let len = q + usize::from(i < r);
    (start * align).min(n)..((start + len) * align).min(n)
}

/// A reusable sense-reversing spin barrier that counts its waits and how many of them had
/// to yield (the partner was not running).
struct Barrier {
    count: AtomicUsize,
    generation: AtomicUsize,
    waits: AtomicUsize,
    yields: AtomicUsize,
}

impl Barrier {
    fn new() -> Self {
        Barrier {
            count: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            waits: AtomicUsize::new(0),
            yields: AtomicUsize::new(0),
        }
    }
    fn wait(&self, size: usize) {
        let gen = self.generation.load(Ordering::Acquire);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == size {
            self.count.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::AcqRel);
            return;
        }
        let yielded = spin_until(|| self.generation.load(Ordering::Acquire) != gen);
        self.waits.fetch_add(1, Ordering::Relaxed);
        if yielded {
            self.yields.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Spins (then yields the core, so a busy machine is not made busier) until `done()`.
/// Returns whether it had to yield.
fn spin_until(done: impl Fn() -> bool) -> bool {
    let mut n = 0usize;
    while !done() {
        if n < SPINS {
            std::hint::spin_loop();
            n += 1;
        } else {
            std::thread::yield_now();
            n += 1;
        }
    }
    n > SPINS
}

/// When to run teams solo. After a team call with at least [`Guard::MIN_WAITS`] barrier
/// waits, more than a quarter of which had to yield, the machine is taken as contended and
/// the next `period` calls run solo; the period doubles while the contention lasts (from
/// [`Guard::FIRST`] up to [`Guard::MAX`] calls) and is forgotten after a clean team call.
/// One call is one parallel pass (a layer's time loop, a large product), so the period is
/// a few training steps at first and at most some seconds.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// Solo calls still to run.
    left: usize,
    /// The last solo period (0: no contention seen since the last clean call).
    period: usize,
}

impl Guard {
    const MIN_WAITS: usize = 8;
    const FIRST: usize = 16;
    const MAX: usize = 4096;

    /// Whether the next call should run solo (and counts it).
    fn take_solo(&mut self) -> bool {
        if self.left > 0 {
            self.left -= 1;
            true
        } else {
            false
        }
    }

    /// Records a finished team call's barrier counts.
    fn record(&mut self, waits: usize, yields: usize) {
        if waits < Self::MIN_WAITS {
            return;
        }
        if yields * 4 > waits {
            self.period = (self.period * 2).clamp(Self::FIRST, Self::MAX);
            self.left = self.period;
        } else {
            self.period = 0;
        }
    }
}

/// Forgets any contention seen, so the next team runs with every member it may have (tests
/// use it before checking that a parallel path gives the same bits).
pub fn reset_guard() {
    *guard().lock().unwrap_or_else(|e| e.into_inner()) = Guard::default();
}

fn guard() -> &'static Mutex<Guard> {
    static GUARD: OnceLock<Mutex<Guard>> = OnceLock::new();
    GUARD.get_or_init(|| Mutex::new(Guard::default()))
}

/// The job a team runs: a type-erased `&dyn Fn(&Team)` whose lifetime `team` guarantees.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(&Team) + Sync),
    size: usize,
    barrier: *const Barrier,
}
// SAFETY: the pointers are only dereferenced while `team` keeps their targets alive, and
// the closure is Sync.
unsafe impl Send for Job {}

struct Shared {
    /// Bumped once per job; workers watch it.
    epoch: AtomicUsize,
    job: Mutex<Option<Job>>,
    wake: Condvar,
    /// Members (other than the caller) still running the current job.
    running: AtomicUsize,
    panicked: AtomicBool,
}

struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<usize>,
    /// Held by the caller leading a team: one team at a time.
    lead: Mutex<()>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        shared: Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: Mutex::new(None),
            wake: Condvar::new(),
            running: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        }),
        workers: Mutex::new(0),
        lead: Mutex::new(()),
    })
}

/// A worker's life: wait for a job newer than `seen`, run its part, repeat. `seen` is read
/// by the spawning caller before it publishes the job the worker was spawned for, so a
/// worker that starts late still takes part in it.
fn worker(shared: Arc<Shared>, index: usize, mut seen: usize) {
    IN_TEAM.with(|c| c.set(true));
    loop {
        // Spin a while for the next job, then sleep.
        let mut n = 0;
        while shared.epoch.load(Ordering::Acquire) == seen && n < IDLE_SPINS {
            std::hint::spin_loop();
            n += 1;
        }
        let job = {
            let mut slot = shared.job.lock().unwrap_or_else(|e| e.into_inner());
            while shared.epoch.load(Ordering::Acquire) == seen {
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            seen = shared.epoch.load(Ordering::Acquire);
            *slot
        };
        let Some(job) = job else { continue };
        if index < job.size {
            // SAFETY: `team` waits for `running` to reach 0 before its borrows end.
            let (f, barrier) = unsafe { (&*job.f, &*job.barrier) };
            let team = Team {
                index,
                size: job.size,
                barrier,
            };
            if catch_unwind(AssertUnwindSafe(|| f(&team))).is_err() {
                shared.panicked.store(true, Ordering::Release);
            }
            shared.running.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Runs `f` on a team of up to `wanted` members (the caller is member 0) and returns when
/// all have finished. The team is smaller when fewer threads are allowed
/// ([`threads`]), when called from inside a team, or while another caller
/// leads one: `f` must work for any size, and must call [`Team::sync`] the same number of
/// times in every member.
pub fn team(wanted: usize, f: &(dyn Fn(&Team) + Sync)) {
    let size = wanted.min(threads()).max(1);
    let nested = IN_TEAM.with(|c| c.get());
    let barrier = Barrier::new();
    let p = pool();
    let solo = size > 1
        && !nested
        && guard()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_solo();
    let lead = if size > 1 && !nested && !solo {
        p.lead.try_lock().ok()
    } else {
        None
    };
    let Some(_lead) = lead else {
        f(&Team {
            index: 0,
            size: 1,
            barrier: &barrier,
        });
        return;
    };
    let size = {
        let mut w = p.workers.lock().unwrap_or_else(|e| e.into_inner());
        while *w < size - 1 {
            let (shared, index) = (p.shared.clone(), *w + 1);
            let seen = shared.epoch.load(Ordering::Acquire);
            let spawned = std::thread::Builder::new()
                .name(format!("recurrent-{index}"))
                .spawn(move || worker(shared, index, seen));
            if spawned.is_err() {
                break; // the system refuses threads: a smaller team
            }
            *w += 1;
        }
        size.min(*w + 1)
    };
    if size > 1 {
        PARALLEL_TEAMS.fetch_add(1, Ordering::Relaxed);
    }
    let sh = &p.shared;
    sh.running.store(size - 1, Ordering::Release);
    sh.panicked.store(false, Ordering::Relaxed);
    // SAFETY (lifetime erasure): this function does not return before every member has
    // finished with `f` and `barrier` (the wait on `running` below).
    let erased: *const (dyn Fn(&Team) + Sync) =
        unsafe { std::mem::transmute::<&(dyn Fn(&Team) + Sync), _>(f) };
    {
        let mut slot = sh.job.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(Job {
            f: erased,
            size,
            barrier: &barrier,
        });
        sh.epoch.fetch_add(1, Ordering::AcqRel);
        sh.wake.notify_all();
    }
    IN_TEAM.with(|c| c.set(true));
    let mine = catch_unwind(AssertUnwindSafe(|| {
        f(&Team {
            index: 0,
            size,
            barrier: &barrier,
        })
    }));
    IN_TEAM.with(|c| c.set(false));
    spin_until(|| sh.running.load(Ordering::Acquire) == 0);
    guard().lock().unwrap_or_else(|e| e.into_inner()).record(
        barrier.waits.load(Ordering::Relaxed),
        barrier.yields.load(Ordering::Relaxed),
    );
    if let Err(e) = mine {
        std::panic::resume_unwind(e);
    }
    assert!(
        !sh.panicked.load(Ordering::Acquire),
        "a worker thread panicked"
    );
}

/// How many members a team started now would have (1 inside a team).
pub fn width() -> usize {
    if IN_TEAM.with(|c| c.get()) {
        1
    } else {
        threads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn split_covers_everything_once_and_aligned() {
        for n in [0, 1, 5, 16, 17, 100, 128, 1000] {
            for parts in 1..5 {
                let mut next = 0;
                for i in 0..parts {
                    let r = split(n, 16, parts, i);
                    assert_eq!(r.start, next);
                    assert!(r.start.is_multiple_of(16) || r.start == n);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn the_guard_goes_solo_under_contention_and_comes_back() {
        let mut g = Guard::default();
        assert!(!g.take_solo());
        g.record(4, 4); // too few waits to judge
        assert!(!g.take_solo());
        g.record(100, 10); // a tenth yielded: a quiet machine
        assert!(!g.take_solo());
        g.record(100, 60); // contended: the next FIRST calls run solo
        for _ in 0..Guard::FIRST {
            assert!(g.take_solo());
        }
        assert!(!g.take_solo());
        g.record(100, 90); // still contended: twice as long
        assert_eq!(
            (0..).take_while(|_| g.take_solo()).count(),
            2 * Guard::FIRST
        );
        g.record(100, 0); // clean: back to teams, and the period starts over
        assert!(!g.take_solo());
        g.record(100, 90);
        assert_eq!((0..).take_while(|_| g.take_solo()).count(), Guard::FIRST);
        for _ in 0..20 {
            g.record(100, 90);
            while g.take_solo() {}
        }
        assert_eq!(g.period, Guard::MAX);
    }

    #[test]
    fn a_team_meets_at_its_barrier() {
        super::set_threads(2);
        // Each member adds its index in rounds; after each sync every member sees the sum
        // of all rounds so far.
        let total = AtomicU64::new(0);
        let bad = AtomicBool::new(false);
        team(2, &|t: &Team| {
            for round in 1..=200u64 {
                total.fetch_add(t.index as u64 + 1, Ordering::SeqCst);
                t.sync();
                let want = round * (t.size * (t.size + 1) / 2) as u64;
                if total.load(Ordering::SeqCst) != want {
                    bad.store(true, Ordering::SeqCst);
                }
                t.sync();
            }
        });
        assert!(!bad.load(Ordering::SeqCst));
        assert!(total.load(Ordering::SeqCst) >= 200);
        // Nested teams run inline with one member.
        let inner = AtomicUsize::new(0);
        team(2, &|_t: &Team| {
            team(2, &|t2: &Team| {
                inner.fetch_max(t2.size, Ordering::SeqCst);
            });
        });
        assert_eq!(inner.load(Ordering::SeqCst), 1);
    }
}
