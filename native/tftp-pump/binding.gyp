{
  "targets": [
    {
      "target_name": "tftp_pump",
      "sources": ["src/pump.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "udp_batch",
      "sources": ["src/udpbatch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "icmp6",
      "sources": ["src/icmp6.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
