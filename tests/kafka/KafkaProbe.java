// KafkaProbe - the admin side of scripts/real-kafka.sh, on Kafka's own Java
// client (the broker's classpath has it): readiness, topics, leaders and
// offsets of a real cluster. Compiled once by real-kafka.sh into its cache.
//
//   ready BOOTSTRAP NODES SECONDS   every node registered, the group and the
//                                   transaction coordinators answer
//   create BOOTSTRAP REPLICAS NAME:PARTITIONS... [key=value...]
//   leaders BOOTSTRAP TOPIC         "partition leader" per line
//   offsets BOOTSTRAP TOPIC         "partition earliest latest" per line
//   coordinator BOOTSTRAP GROUP     the node coordinating the group
//
// Exit status: 0 done, 1 failed (message on stderr), 2 usage.
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.errors.*;

public class KafkaProbe {
    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        return Admin.create(p);
    }

    static Throwable cause(Exception e) {
        return e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    }

    // The coordinator for a key answers: a group or transactional id it does
    // not know is an answer, a coordinator still loading is not.
    static boolean coordinatorsReady(Admin a) throws InterruptedException {
        try {
            a.describeConsumerGroups(List.of("eoc-ready-probe")).all().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            if (!(cause(e) instanceof GroupIdNotFoundException)) {
                System.err.println("probe: group coordinator: " + cause(e));
                return false;
            }
        }
        // Transactional ids spread over every partition of the transaction
        // log (8, see real-kafka.sh): an idempotent producer's first request
        // fails while any of them is still loading.
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 64; i++)
            ids.add("eoc-ready-probe-" + i);
        DescribeTransactionsResult r = a.describeTransactions(ids);
        for (String id : ids) {
            try {
                r.description(id).get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                if (!(cause(e) instanceof TransactionalIdNotFoundException)) {
                    System.err.println("probe: transaction coordinator: " + cause(e));
                    return false;
                }
            }
        }
        return true;
    }

    static int ready(String bootstrap, int nodes, int seconds) throws Exception {
        long deadline = System.currentTimeMillis() + seconds * 1000L;
        String last = "no answer";
        try (Admin a = admin(bootstrap)) {
            while (System.currentTimeMillis() < deadline) {
                try {
                    Collection<Node> n = a.describeCluster().nodes().get(10, TimeUnit.SECONDS);
                    if (n.size() < nodes)
                        last = n.size() + " of " + nodes + " nodes registered";
                    else if (coordinatorsReady(a))
                        return 0;
                    else
                        last = "coordinators not ready";
                } catch (Exception e) {
                    last = cause(e).toString();
                }
                Thread.sleep(300);
            }
        }
        System.err.println("probe: cluster not ready within " + seconds + " s: " + last);
        return 1;
    }

    // create BOOTSTRAP REPLICAS NAME:PARTITIONS... [key=value...]: the
    // configs apply to every topic named.
    static int create(String bootstrap, short replicas, String[] specs) throws Exception {
        Map<String, String> configs = new HashMap<>();
        Map<String, Integer> topics = new LinkedHashMap<>();
        for (String s : specs) {
            int eq = s.indexOf('='), colon = s.lastIndexOf(':');
            if (eq > 0)
                configs.put(s.substring(0, eq), s.substring(eq + 1));
            else if (colon > 0)
                topics.put(s.substring(0, colon), Integer.parseInt(s.substring(colon + 1)));
            else
                throw new IllegalArgumentException("neither NAME:PARTITIONS nor key=value: " + s);
        }
        try (Admin a = admin(bootstrap)) {
            List<NewTopic> nt = new ArrayList<>();
            for (var t : topics.entrySet())
                nt.add(new NewTopic(t.getKey(), t.getValue(), replicas).configs(configs));
            a.createTopics(nt).all().get(30, TimeUnit.SECONDS);
            // Created means the controller has them; wait until every
            // partition has a leader in the brokers' metadata.
            for (int i = 0; i < 100; i++) {
                boolean all = true;
                try {
                    var ds = a.describeTopics(topics.keySet()).allTopicNames().get(10, TimeUnit.SECONDS);
                    for (var t : topics.entrySet()) {
                        TopicDescription d = ds.get(t.getKey());
                        all &= d.partitions().size() == t.getValue() &&
                               d.partitions().stream().allMatch(p -> p.leader() != null);
                    }
                } catch (ExecutionException e) {
                    if (!(cause(e) instanceof UnknownTopicOrPartitionException))
                        throw e;
                    all = false;
                }
                if (all)
                    return 0;
                Thread.sleep(100);
            }
        }
        System.err.println("probe: " + topics.keySet() + ": not every partition has a leader");
        return 1;
    }

    static int leaders(String bootstrap, String topic) throws Exception {
        try (Admin a = admin(bootstrap)) {
            TopicDescription d = a.describeTopics(List.of(topic)).allTopicNames().get(15, TimeUnit.SECONDS).get(topic);
            for (TopicPartitionInfo p : d.partitions())
                System.out.println(p.partition() + " " + (p.leader() == null ? -1 : p.leader().id()));
        }
        return 0;
    }

    static int coordinator(String bootstrap, String group) throws Exception {
        try (Admin a = admin(bootstrap)) {
            ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).all().get(15, TimeUnit.SECONDS).get(group);
            System.out.println(d.coordinator() == null ? -1 : d.coordinator().id());
        }
        return 0;
    }

    static int offsets(String bootstrap, String topic) throws Exception {
        try (Admin a = admin(bootstrap)) {
            TopicDescription d = a.describeTopics(List.of(topic)).allTopicNames().get(15, TimeUnit.SECONDS).get(topic);
            Map<TopicPartition, OffsetSpec> lo = new HashMap<>(), hi = new HashMap<>();
            for (TopicPartitionInfo p : d.partitions()) {
                lo.put(new TopicPartition(topic, p.partition()), OffsetSpec.earliest());
                hi.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest());
            }
            var l = a.listOffsets(lo).all().get(15, TimeUnit.SECONDS);
            var h = a.listOffsets(hi).all().get(15, TimeUnit.SECONDS);
            for (int p = 0; p < d.partitions().size(); p++) {
                TopicPartition tp = new TopicPartition(topic, p);
                System.out.println(p + " " + l.get(tp).offset() + " " + h.get(tp).offset());
            }
        }
        return 0;
    }

    public static void main(String[] args) throws Exception {
        int rc = 2;
        try {
            if (args.length == 4 && args[0].equals("ready"))
                rc = ready(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            else if (args.length >= 4 && args[0].equals("create"))
                rc = create(args[1], Short.parseShort(args[2]), Arrays.copyOfRange(args, 3, args.length));
            else if (args.length == 3 && args[0].equals("leaders"))
                rc = leaders(args[1], args[2]);
            else if (args.length == 3 && args[0].equals("coordinator"))
                rc = coordinator(args[1], args[2]);
            else if (args.length == 3 && args[0].equals("offsets"))
                rc = offsets(args[1], args[2]);
            else
                System.err.println("usage: KafkaProbe ready|create|leaders|offsets BOOTSTRAP ... (see the source)");
        } catch (Exception e) {
            System.err.println("probe: " + args[0] + ": " + cause(e));
            rc = 1;
        }
        System.exit(rc);
    }
}
