// A JVM host for tests/integration/test_hosts.py.
//
//   java GmrHost        three named threads (one busy in a loop that the
//                       tiered JIT compiles with C2, one sleeping, one
//                       waiting on a monitor); prints "ready <pid>", then
//                       echoes each stdin line until "quit"; exits 3
//   java GmrHost crash  reads address 8 through sun.misc.Unsafe: HotSpot
//                       writes hs_err_pid<pid>.log and aborts (134)
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Field;

public class GmrHost {
    static volatile boolean stop = false;
    static volatile long sink;

    static long spin(long x) {
        long acc = x;
        for (int i = 0; i < 1000; i++) {
            acc = (acc * 6364136223846793005L + 1442695040888963407L) ^ (acc >>> 17);
        }
        return acc;
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("crash")) {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            sun.misc.Unsafe unsafe = (sun.misc.Unsafe) f.get(null);
            System.out.println("crashing");
            System.out.flush();
            System.out.println(unsafe.getInt(8L));
            return;
        }
        final Object lock = new Object();
        Thread busy = new Thread(() -> {
            long a = 1;
            while (!stop) a = spin(a);
            sink = a;
        }, "gmr-busy");
        Thread sleeper = new Thread(() -> {
            while (!stop) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "gmr-sleeper");
        Thread waiter = new Thread(() -> {
            synchronized (lock) {
                while (!stop) {
                    try {
                        lock.wait(100);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }, "gmr-waiter");
        busy.start();
        sleeper.start();
        waiter.start();
        System.out.println("ready " + ProcessHandle.current().pid());
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        int total = 0;
        while ((line = in.readLine()) != null && !line.equals("quit")) {
            total += line.length();
            System.out.println("echo " + line + " " + total);
            System.out.flush();
        }
        stop = true;
        busy.join();
        sleeper.join();
        waiter.join();
        System.out.println("bye " + total);
        System.out.flush();
        System.exit(3);
    }
}
