{
  "targets": [
    {
      "target_name": "tftp_pump",
      "sources": ["src/pump.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "libraries": ["-lpthread"]
    }
  ]
}
