// count_trips: how many trips one invocation's loop makes when asked for
// counts[0], into counts[1]. A driver that ends an invocation's loops
// early (Mesa 22.3's lavapipe: after 65,535 trips, every loop of the
// shader counted together) stores fewer. The count asked for comes from
// the buffer; a compiler may still put the loop's closed form in its
// place, but the driver's limit is part of the loop it compiles.

@group(0) @binding(0) var<storage, read_write> counts: array<u32>;

@compute @workgroup_size(1)
fn count_trips() {
    let asked = counts[0];
    var trips = 0u;
    for (var i = 0u; i < asked; i++) {
        trips += 1u;
    }
    counts[1] = trips;
}
