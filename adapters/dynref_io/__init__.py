"""dynref_io: everything of dynref that touches the world (sockets, disks, processes, terminals)."""
