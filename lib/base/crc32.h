// crc32.h: the standard CRC-32 (IEEE 802.3, as zlib and PNG use), to detect
// corrupted checkpoint files. Feed data in pieces: crc = crc32_update(crc, ...)
// starting from 0.
#ifndef UM_CRC32_H
#define UM_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

#endif
