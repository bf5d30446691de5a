fn main() {
    println!("synprint: under construction");
}
