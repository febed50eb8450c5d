#!/bin/bash
# Starts one ZooKeeper server of hostnet-servers.yml in a coordkit-zookeeper image, from the same
# environment the official zookeeper image reads (ZOO_MY_ID, ZOO_SERVERS, ZOO_TICK_TIME,
# ZOO_4LW_COMMANDS_WHITELIST) plus ZK_CLIENT_PORT: every member shares the host's network, so each
# has a client port of its own and binds 127.0.0.1 only. The server class is run directly (Debian's
# zkServer.sh reads /etc/zookeeper/conf whatever it is told), in the foreground, as PID 1's child.
set -euo pipefail
data=/data
mkdir -p "$data"
echo "${ZOO_MY_ID:-1}" >"$data/myid"
cfg=/tmp/zoo.cfg
{
    echo "tickTime=${ZOO_TICK_TIME:-500}"
    echo "initLimit=10"
    echo "syncLimit=5"
    echo "dataDir=$data"
    echo "clientPort=${ZK_CLIENT_PORT:-2181}"
    echo "clientPortAddress=127.0.0.1"
    echo "admin.enableServer=false"
    echo "4lw.commands.whitelist=${ZOO_4LW_COMMANDS_WHITELIST:-srvr}"
    echo "maxClientCnxns=0"
    # The official image's "server.N=host:peer:election;clientport" entries, without the client
    # port: here each member's own clientPort above says it.
    for server in ${ZOO_SERVERS:-}; do echo "${server%%;*}"; done
} >"$cfg"
cp=""
for jar in zookeeper zookeeper-jute slf4j-api slf4j-simple netty-handler netty-common netty-transport \
    netty-buffer netty-resolver netty-codec netty-transport-native-epoll \
    netty-transport-native-unix-common commons-io commons-cli metrics-core snappy-java \
    jackson-databind jackson-core jackson-annotations; do
    cp+="/usr/share/java/$jar.jar:"
done
exec java -Xmx256m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true -Dzookeeper.admin.enableServer=false \
    -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
