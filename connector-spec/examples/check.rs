fn main() {
    let opts = connector_spec::LoadOptions::default();
    for p in std::env::args().skip(1) {
        let l = connector_spec::load_file(std::path::Path::new(&p), &opts);
        print!("{}", l.render(false));
    }
}
