"""Host-staged MPI: collectives on any backend's arrays, through NumPy buffers and mpi4py.

The portable transport every adapter gets from ``Backend.communicator``: one device-to-host
copy, one MPI call and one host-to-device copy per collective. It costs a wait for the device
(the data must be on the host before MPI can send it); an adapter with a device transport
(NCCL) overrides ``communicator`` instead.
"""

from __future__ import annotations

import numpy


class HostStagedMPI:
    """Sum and broadcast flat (1-D) arrays of one backend across an mpi4py communicator.

    Both take a buffer the caller gives up: its memory may be reused for the result.
    """

    def __init__(self, backend, comm):
        self.backend, self.comm = backend, comm

    def allreduce_sum(self, flat):
        """The element-wise sum of ``flat`` over every process, on this backend."""
        from mpi4py import MPI

        host = self._host(flat)
        self.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        return self.backend.asarray(host)

    def broadcast(self, flat, root=0):
        """``flat`` as process ``root`` holds it, on every process."""
        host = self._host(flat)
        self.comm.Bcast(host, root=root)
        return self.backend.asarray(host)

    def _host(self, flat):
        """A writable, contiguous host array of ``flat`` (``flat`` itself on NumPy: no copy)."""
        host = self.backend.to_numpy(flat)
        if not (host.flags.writeable and host.flags.c_contiguous):
            host = numpy.array(host, copy=True)
        return host
