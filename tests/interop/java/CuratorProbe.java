// A probe that takes Apache Curator's locks and leaderships for coordkit's interop tests
// (tests/interop/test_zk_interop.py compiles it with javac into a temporary folder).
//
//   java CuratorProbe CONNECT        CONNECT may end with a chroot: "127.0.0.1:2181/ns"
//
// Prints "READY" once connected, then reads one command per line on stdin and answers each
// with one line on stdout (flushed). Everything runs on the main thread, which is what
// InterProcessMutex requires (a lock is released by the thread that acquired it).
//
//   lock PATH ID MILLIS   InterProcessMutex.acquire(MILLIS ms) (MILLIS < 0: wait forever) with
//                         node data ID, as LeaderSelector writes it: "ACQUIRED <node path>"
//                         or "TIMEOUT"
//   unlock PATH           release(): "RELEASED"
//   nodes PATH            getParticipantNodes() in Curator's order: "NODES <path> <path>..."
//   leader PATH           LeaderSelector.getLeader(): "LEADER <id>" ("LEADER " when none)
//   elect PATH ID         start a LeaderSelector with ID: "STARTED", later "LEADING <id>"
//                         once elected (it keeps leadership until resign)
//   resign PATH           end that leadership and close the selector: "RESIGNED"
//   quit                  (or end of input) close everything and exit
//
// Failures of one command answer "ERROR <exception>" and the probe goes on.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

public final class CuratorProbe {
    private final CuratorFramework zk;
    private final Map<String, Mutex> mutexes = new HashMap<>();
    private final Map<String, Candidate> candidates = new HashMap<>();

    private CuratorProbe(CuratorFramework zk) {
        this.zk = zk;
    }

    /** An InterProcessMutex whose node holds an id, as LeaderSelector's own mutex does. */
    private static final class Mutex extends InterProcessMutex {
        private final byte[] id;

        Mutex(CuratorFramework zk, String path, String id) {
            super(zk, path);
            this.id = id.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        protected byte[] getLockNodeBytes() {
            return id;
        }

        String node() {
            return getLockPath();
        }
    }

    /** A started LeaderSelector that holds leadership until resign() counts down. */
    private static final class Candidate extends LeaderSelectorListenerAdapter {
        final CountDownLatch resigned = new CountDownLatch(1);
        final String id;
        LeaderSelector selector;

        Candidate(String id) {
            this.id = id;
        }

        @Override
        public void takeLeadership(CuratorFramework zk) throws Exception {
            say("LEADING " + id);
            resigned.await();
        }
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: CuratorProbe CONNECT  (then commands on stdin)");
            System.exit(2);
        }
        try (CuratorFramework zk = CuratorFrameworkFactory.newClient(
                args[0], 10000, 5000, new ExponentialBackoffRetry(100, 3))) {
            zk.start();
            if (!zk.blockUntilConnected(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no ZooKeeper answered at " + args[0]);
            }
            say("READY");
            new CuratorProbe(zk).serve(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)));
        }
    }

    private void serve(BufferedReader in) throws Exception {
        String line;
        while ((line = in.readLine()) != null) {
            String[] words = line.trim().split(" ");
            if (words[0].equals("quit")) {
                break;
            }
            try {
                say(run(words));
            } catch (Exception e) {
                say("ERROR " + e);
            }
        }
        for (Candidate candidate : candidates.values()) {
            candidate.resigned.countDown();
            candidate.selector.close();
        }
    }

    private String run(String[] words) throws Exception {
        String path = words[1];
        switch (words[0]) {
            case "lock": {
                Mutex mutex = new Mutex(zk, path, words[2]);
                long millis = Long.parseLong(words[3]);
                boolean acquired = true;
                if (millis < 0) {
                    mutex.acquire();
                } else {
                    acquired = mutex.acquire(millis, TimeUnit.MILLISECONDS);
                }
                if (!acquired) {
                    return "TIMEOUT";
                }
                mutexes.put(path, mutex);
                return "ACQUIRED " + mutex.node();
            }
            case "unlock":
                mutexes.remove(path).release();
                return "RELEASED";
            case "nodes":
                return ("NODES " + String.join(" ", new InterProcessMutex(zk, path).getParticipantNodes())).trim();
            case "leader": {
                LeaderSelector selector = new LeaderSelector(zk, path, new LeaderSelectorListenerAdapter() {
                    @Override
                    public void takeLeadership(CuratorFramework client) {}
                });
                Participant leader = selector.getLeader();
                return "LEADER " + (leader.isLeader() ? leader.getId() : "");
            }
            case "elect": {
                Candidate candidate = new Candidate(words[2]);
                candidate.selector = new LeaderSelector(zk, path, candidate);
                candidate.selector.setId(words[2]);
                candidates.put(path, candidate);
                candidate.selector.start();
                return "STARTED";
            }
            case "resign": {
                Candidate candidate = candidates.remove(path);
                candidate.resigned.countDown();
                candidate.selector.close();
                return "RESIGNED";
            }
            default:
                throw new IllegalArgumentException("unknown command " + words[0]);
        }
    }
}
