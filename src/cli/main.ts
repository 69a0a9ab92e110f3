console.error("dyncluster: the command line is not built yet")
process.exit(1)
