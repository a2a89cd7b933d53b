/*
 * KsDedupe - the Kafka Streams peer of eoc's benchmark (mode KS): the same
 * job as eoc's mode C, written as a Kafka Streams user would write it.
 *
 *   java -cp 'LIBS/*:CLASSES' KsDedupe BOOTSTRAP INPUT OUTPUT STATE_DIR
 *
 * Reads INPUT from the beginning under a fresh application.id, with
 * processing.guarantee=exactly_once_v2; keeps every `message-id` header
 * it has seen in a persistent (RocksDB) key-value store, with its
 * changelog; drops a record whose ID is already there, otherwise stores
 * the ID and forwards the record (key, value and headers) to OUTPUT: one
 * output per new record, as eoc's mode C emits. Settings a user would
 * pick for this machine and for eoc's batch: commit.interval.ms=100 (what
 * exactly_once_v2 defaults to, and eoc's batch.max.ms) and
 * num.stream.threads=2 (two cores; eoc runs a polling and an applying
 * thread).
 *
 * Timing matches eoc-bench's: from the first record processed until every
 * input record is committed (the application's committed offsets reach
 * the input's end). It prints one line:
 *   KS records=N wall_s=S cpu_s=S rss_mib=M
 * where cpu_s is the process's CPU time over that interval (all its
 * threads) and rss_mib its peak resident set (VmHWM) at the end.
 */
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

public final class KsDedupe {
    private static final String STORE = "seen-ids";
    private static final byte[] SEEN = new byte[0];

    /* Drops a record whose message-id the store has; stores and forwards
     * the others. */
    static final class Dedupe implements Processor<byte[], byte[], byte[], byte[]> {
        private final AtomicLong firstNs, cpuAtFirst;
        private ProcessorContext<byte[], byte[]> ctx;
        private KeyValueStore<Bytes, byte[]> seen;

        Dedupe(AtomicLong firstNs, AtomicLong cpuAtFirst) {
            this.firstNs = firstNs;
            this.cpuAtFirst = cpuAtFirst;
        }

        @Override
        public void init(ProcessorContext<byte[], byte[]> ctx) {
            this.ctx = ctx;
            this.seen = ctx.getStateStore(STORE);
        }

        @Override
        public void process(Record<byte[], byte[]> r) {
            if (firstNs.get() == 0 && firstNs.compareAndSet(0, System.nanoTime()))
                cpuAtFirst.set(cpuNs());
            Header h = r.headers().lastHeader("message-id");
            if (h == null || h.value() == null) {
                ctx.forward(r); /* no ID: nothing to dedupe by */
                return;
            }
            Bytes id = Bytes.wrap(h.value());
            if (seen.get(id) != null)
                return;
            seen.put(id, SEEN);
            ctx.forward(r);
        }
    }

    /* The process's CPU time so far (all threads), in ns. */
    static long cpuNs() {
        return ((com.sun.management.OperatingSystemMXBean)ManagementFactory
                    .getOperatingSystemMXBean())
            .getProcessCpuTime();
    }

    /* The input's record count: the sum of its partitions' end minus start. */
    static long inputRecords(String bootstrap, String topic) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30)))
                tps.add(new TopicPartition(topic, pi.partition()));
            long n = 0;
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
            Map<TopicPartition, Long> start = c.beginningOffsets(tps, Duration.ofSeconds(30));
            for (TopicPartition tp : tps)
                n += end.get(tp) - start.get(tp);
            return n;
        }
    }

    /* Records below the application's committed offsets. */
    static long committed(Admin admin, String group) throws Exception {
        long n = 0;
        for (OffsetAndMetadata o :
             admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().values())
            if (o != null)
                n += o.offset();
        return n;
    }

    static long peakRssMib() throws Exception {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status")))
            if (line.startsWith("VmHWM:"))
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
        return -1;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: KsDedupe BOOTSTRAP INPUT OUTPUT STATE_DIR");
            System.exit(2);
        }
        String bootstrap = args[0], input = args[1], output = args[2], stateDir = args[3];
        String appId = "eoc-bench-ks-" + System.currentTimeMillis();
        long records = inputRecords(bootstrap, input);

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        AtomicLong firstNs = new AtomicLong(), cpuAtFirst = new AtomicLong();
        Topology t = new Topology();
        t.addSource("input", new ByteArrayDeserializer(), new ByteArrayDeserializer(), input);
        t.addProcessor("dedupe", () -> new Dedupe(firstNs, cpuAtFirst), "input");
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE),
                                                    Serdes.Bytes(), Serdes.ByteArray()),
                        "dedupe");
        t.addSink("output", output, new ByteArraySerializer(), new ByteArraySerializer(), "dedupe");

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            KafkaStreams streams = new KafkaStreams(t, p);
            streams.start();
            long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
            while (committed(admin, appId) < records) {
                if (System.nanoTime() > deadline || streams.state() == KafkaStreams.State.ERROR) {
                    System.err.println("KsDedupe: not done (state " + streams.state() + ")");
                    System.exit(1);
                }
                Thread.sleep(20);
            }
            long done = System.nanoTime(), cpu1 = cpuNs();
            double wall = (done - firstNs.get()) / 1e9;
            double cpu = (cpu1 - cpuAtFirst.get()) / 1e9;
            System.out.printf("KS records=%d wall_s=%.3f cpu_s=%.3f rss_mib=%d%n", records, wall, cpu,
                              peakRssMib());
            streams.close(Duration.ofSeconds(30));
            streams.cleanUp();
        }
    }
}
