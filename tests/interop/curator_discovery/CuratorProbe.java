// A probe that speaks Apache Curator's service discovery (curator-x-discovery) for the
// interop tests: coordkit's instances must be readable by Curator, and Curator's by coordkit.
//
//   CuratorProbe CONNECT BASE SERVICE list
//       prints one JSON object per instance Curator finds, then the line "end"
//   CuratorProbe CONNECT BASE SERVICE register ID ADDRESS PORT
//       registers an instance through ServiceDiscovery, prints "registered", holds it until
//       stdin closes, then unregisters it and prints "unregistered"
//
// CONNECT may end with a chroot ("127.0.0.1:2181/ns"). Built with Curator's defaults (the
// ServiceDiscoveryBuilder's own JsonInstanceSerializer), as a Java service would be.

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.UriSpec;

public final class CuratorProbe {
    private CuratorProbe() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: CuratorProbe CONNECT BASE SERVICE list|register ID ADDRESS PORT");
            System.exit(2);
        }
        String connect = args[0];
        String base = args[1];
        String service = args[2];
        String mode = args[3];
        try (CuratorFramework zk = CuratorFrameworkFactory.newClient(
                connect, 5000, 5000, new ExponentialBackoffRetry(100, 3))) {
            zk.start();
            if (!zk.blockUntilConnected(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no ZooKeeper answered at " + connect);
            }
            try (ServiceDiscovery<Void> discovery = ServiceDiscoveryBuilder.builder(Void.class)
                    .client(zk).basePath(base).build()) {
                discovery.start();
                if (mode.equals("list")) {
                    list(discovery, service);
                } else if (mode.equals("register")) {
                    register(discovery, service, args[4], args[5], Integer.parseInt(args[6]));
                } else {
                    throw new IllegalArgumentException("unknown mode " + mode);
                }
            }
        }
    }

    private static void list(ServiceDiscovery<Void> discovery, String service) throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (ServiceInstance<Void> instance : discovery.queryForInstances(service)) {
            Map<String, Object> seen = new LinkedHashMap<>();
            seen.put("name", instance.getName());
            seen.put("id", instance.getId());
            seen.put("address", instance.getAddress());
            seen.put("port", instance.getPort());
            seen.put("sslPort", instance.getSslPort());
            seen.put("registrationTimeUTC", instance.getRegistrationTimeUTC());
            seen.put("serviceType", String.valueOf(instance.getServiceType()));
            seen.put("uri", instance.getUriSpec() == null ? null : instance.buildUriSpec());
            seen.put("enabled", instance.isEnabled());
            System.out.println(json.writeValueAsString(seen));
        }
        System.out.println("end");
        System.out.flush();
    }

    private static void register(ServiceDiscovery<Void> discovery, String service, String id,
                                 String address, int port) throws Exception {
        ServiceInstance<Void> instance = ServiceInstance.<Void>builder()
                .name(service).id(id).address(address).port(port)
                .uriSpec(new UriSpec("{scheme}://{address}:{port}/"))
                .build();
        discovery.registerService(instance);
        System.out.println("registered");
        System.out.flush();
        InputStream in = System.in;
        while (in.read() >= 0) {
            // hold the registration until the test closes our stdin
        }
        discovery.unregisterService(instance);
        System.out.println("unregistered");
        System.out.flush();
    }
}
