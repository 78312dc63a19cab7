// A Rust host for tests/integration/test_hosts.py: two sleeping threads and
// one waiting on a condition variable; prints "ready <pid>", echoes each
// stdin line until "quit", joins its threads and exits 5.
use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

#[inline(never)]
fn sleeper_loop(stop: &AtomicBool) -> u64 {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(20));
        n += 1;
    }
    n
}

fn main() {
    let stop = Arc::new(AtomicBool::new(false));
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let mut handles = Vec::new();
    for i in 0..2 {
        let s = stop.clone();
        let h = thread::Builder::new().name(format!("rs-sleeper{}", i));
        handles.push(h.spawn(move || { sleeper_loop(&s); }).unwrap());
    }
    let p2 = pair.clone();
    handles.push(thread::Builder::new().name("rs-waiter".into()).spawn(move || {
        let (lock, cv) = &*p2;
        let mut done = lock.lock().unwrap();
        while !*done {
            done = cv.wait(done).unwrap();
        }
    }).unwrap());
    println!("ready {}", std::process::id());
    io::stdout().flush().unwrap();
    let stdin = io::stdin();
    let mut total = 0usize;
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        if line == "quit" {
            break;
        }
        total += line.len();
        println!("echo {} {}", line, total);
        io::stdout().flush().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    {
        let (lock, cv) = &*pair;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    for h in handles {
        h.join().unwrap();
    }
    println!("bye {}", total);
    io::stdout().flush().unwrap();
    std::process::exit(5);
}
