/* Little-endian field access to the ABI blocks, independent of the host's byte order and
 * alignment (the blocks are plain byte arrays on our side). */
#ifndef LSH_BLOCK_H
#define LSH_BLOCK_H

#include <stdint.h>
#include <string.h>

static inline uint32_t lsh_block_u32(const uint8_t *block, uint32_t offset) {
    const uint8_t *p = block + offset;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline int32_t lsh_block_i32(const uint8_t *block, uint32_t offset) {
    const uint32_t bits = lsh_block_u32(block, offset);
    int32_t value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static inline double lsh_block_f64(const uint8_t *block, uint32_t offset) {
    const uint64_t bits = (uint64_t)lsh_block_u32(block, offset) | ((uint64_t)lsh_block_u32(block, offset + 4u) << 32);
    double value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static inline void lsh_block_set_u32(uint8_t *block, uint32_t offset, uint32_t value) {
    uint8_t *p = block + offset;
    p[0] = (uint8_t)value;
    p[1] = (uint8_t)(value >> 8);
    p[2] = (uint8_t)(value >> 16);
    p[3] = (uint8_t)(value >> 24);
}

static inline void lsh_block_set_i32(uint8_t *block, uint32_t offset, int32_t value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    lsh_block_set_u32(block, offset, bits);
}

static inline void lsh_block_set_f64(uint8_t *block, uint32_t offset, double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    lsh_block_set_u32(block, offset, (uint32_t)bits);
    lsh_block_set_u32(block, offset + 4u, (uint32_t)(bits >> 32));
}

#endif /* LSH_BLOCK_H */
