// A Rust host for tests/integration/test_hosts.py: main recurses without
// bound. The Rust runtime's guard-page handler prints "thread 'main' has
// overflowed its stack" and "fatal runtime error: stack overflow", then
// aborts (SIGABRT).
use std::ptr;

#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(n: u64) -> u64 {
    let mut buf = [n; 64];
    unsafe { ptr::write_volatile(&mut buf[3], n + 1) };
    let next = unsafe { ptr::read_volatile(&buf[3]) };
    recurse(next) + unsafe { ptr::read_volatile(&buf[7]) }
}

fn main() {
    println!("recursing");
    let start = unsafe { ptr::read_volatile(&0u64) };
    println!("unreachable {}", recurse(start));
}
