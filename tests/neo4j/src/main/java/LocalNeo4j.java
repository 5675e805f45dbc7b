import java.nio.file.Path;
import java.time.Duration;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/** A throwaway Neo4j: data in DIR, Bolt on 127.0.0.1:PORT, no auth (loopback only). Stops on
 *  SIGTERM or when its standard input closes. */
public final class LocalNeo4j {
    /** An environment figure in MiB (or the default), in bytes. */
    static long mebibytes(String env, long fallback) {
        String v = System.getenv(env);
        return (v == null || v.isBlank() ? fallback : Long.parseLong(v.trim())) * 1024L * 1024L;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int port = Integer.parseInt(args[1]);
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(dir)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, 512L * 1024 * 1024)
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(30))
                // Memory a transaction may hold, and all of them together: a query that asks for more
                // (a huge list, a cartesian collect) ends in an error instead of thrashing the heap.
                .setConfig(GraphDatabaseSettings.memory_transaction_max_size, mebibytes("INTENTKB_NEO4J_TX_MEMORY", 256))
                .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size, mebibytes("INTENTKB_NEO4J_TX_TOTAL_MEMORY", 640))
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));
        dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        System.out.println("ready bolt://127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join();
    }
}
