#include "base/crc32.h"

// Bitwise CRC-32, reflected polynomial 0xEDB88320. A table would be 8x
// faster; checkpoints are a few MB, so clarity wins.
uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}
