//! The executor: spawning, joining, panics, cancellation, yielding; on both backends.

mod util;

use ringwire_reactor::{JoinError, spawn_local, yield_now};
use std::{cell::RefCell, rc::Rc};
use util::runtime;

both_backends! {
    fn spawned_tasks_run_and_join(backend) {
        let rt = runtime(backend);
        let out = rt.block_on(async {
            let handles: Vec<_> = (0..100u64).map(|i| spawn_local(async move { i * 2 })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(out, (0..100u64).map(|i| i * 2).sum::<u64>());
    }
}

both_backends! {
    fn a_panicking_task_reports_and_the_core_survives(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let h = spawn_local(async { panic!("boom") });
            assert_eq!(h.await, Err::<(), _>(JoinError::Panicked("boom".into())));
            assert_eq!(spawn_local(async { 7 }).await, Ok(7), "the core keeps running");
            assert!(ringwire_reactor::loop_stats().task_panics >= 1);
        });
    }
}

both_backends! {
    fn aborted_and_detached_tasks(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let ran = Rc::new(RefCell::new(Vec::new()));
            let r = ran.clone();
            // Detached: dropping the handle does not stop it.
            drop(spawn_local(async move { r.borrow_mut().push("detached") }));
            let r = ran.clone();
            let h = spawn_local(async move {
                yield_now().await;
                r.borrow_mut().push("aborted");
            });
            yield_now().await;
            h.abort();
            for _ in 0..3 {
                yield_now().await;
            }
            assert_eq!(*ran.borrow(), vec!["detached"]);
        });
    }
}

both_backends! {
    fn yield_now_is_fair_round_robin(backend) {
        let rt = runtime(backend);
        let log = rt.block_on(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..3)
                .map(|id| {
                    let log = log.clone();
                    spawn_local(async move {
                        for step in 0..3 {
                            log.borrow_mut().push((step, id));
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            Rc::try_unwrap(log).unwrap().into_inner()
        });
        let mut sorted = log.clone();
        sorted.sort();
        assert_eq!(log, sorted, "each task runs one step per round");
    }
}

both_backends! {
    fn dropping_a_runtime_drops_its_pending_tasks(backend) {
        struct Flag(Rc<RefCell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                *self.0.borrow_mut() = true;
            }
        }
        let dropped = Rc::new(RefCell::new(false));
        {
            let rt = runtime(backend);
            let flag = Flag(dropped.clone());
            rt.block_on(async move {
                spawn_local(async move {
                    let _flag = flag;
                    std::future::pending::<()>().await;
                });
                yield_now().await;
            });
            assert!(!*dropped.borrow());
        }
        assert!(*dropped.borrow(), "the pending task's future was dropped with the runtime");
    }
}
