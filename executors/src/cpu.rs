//! Which core a thread runs on, and pinning a thread off another thread's core for a while.
//!
//! The commit's head start runs beside the router on a 2-core machine. Left to the scheduler,
//! a thread woken by another runs on the waker's core (wake-affine placement), so the head
//! and the router would share one core while the other idles: routing 15274915 took 1.2 ms
//! instead of 0.3 ms that way. Linux only; elsewhere nothing is pinned.

/// The core the calling thread runs on now, if the OS says.
pub fn current_core() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes no arguments and only reads the caller's CPU number.
        let core = unsafe { libc::sched_getcpu() };
        usize::try_from(core).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Keeps the calling thread off one core until dropped, then gives it back the cores it was
/// allowed before.
#[derive(Debug)]
pub struct OffCore {
    #[cfg(target_os = "linux")]
    allowed: Option<libc::cpu_set_t>,
}

impl OffCore {
    /// Pins the calling thread to the first core it may run on after `core` (wrapping), so
    /// that it does not share `core`. Does nothing when `core` is the only one allowed.
    pub fn avoid(core: usize) -> Self {
        #[cfg(target_os = "linux")]
        {
            Self {
                allowed: pin_off(core),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = core;
            Self {}
        }
    }
}

#[cfg(target_os = "linux")]
fn pin_off(core: usize) -> Option<libc::cpu_set_t> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `allowed` is a valid cpu_set_t of `size` bytes; pid 0 is the calling thread.
    if unsafe { libc::sched_getaffinity(0, size, &mut allowed) } != 0 {
        return None;
    }
    let slots = libc::CPU_SETSIZE as usize;
    let target = (1..slots)
        .map(|step| (core + step) % slots)
        // SAFETY: the index is below CPU_SETSIZE.
        .find(|c| unsafe { libc::CPU_ISSET(*c, &allowed) })?;
    // SAFETY: as above, an all-zero set is empty, and the index is below CPU_SETSIZE.
    let mut only: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(target, &mut only) };
    // SAFETY: `only` is a valid cpu_set_t of `size` bytes; pid 0 is the calling thread.
    (unsafe { libc::sched_setaffinity(0, size, &only) } == 0).then_some(allowed)
}

impl Drop for OffCore {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(allowed) = &self.allowed {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            // SAFETY: `allowed` is the valid set read when pinning; pid 0 is the calling thread.
            unsafe { libc::sched_setaffinity(0, size, allowed) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_kept_off_a_core_runs_elsewhere_and_gets_its_cores_back() {
        let Some(cores) = core_affinity::get_core_ids() else {
            return;
        };
        let before: Vec<usize> = cores.iter().map(|c| c.id).collect();
        std::thread::spawn(move || {
            let avoided = before[0];
            {
                let _off = OffCore::avoid(avoided);
                if before.len() > 1 {
                    let pinned: Vec<usize> = core_affinity::get_core_ids()
                        .expect("cores are readable")
                        .iter()
                        .map(|c| c.id)
                        .collect();
                    assert_eq!(pinned.len(), 1, "pinned to one core: {pinned:?}");
                    assert_ne!(pinned[0], avoided);
                    assert!(before.contains(&pinned[0]));
                    assert_eq!(current_core(), Some(pinned[0]));
                }
            }
            let after: Vec<usize> = core_affinity::get_core_ids()
                .expect("cores are readable")
                .iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(after, before, "the cores allowed before are restored");
        })
        .join()
        .expect("the pinned thread passes");
    }
}
