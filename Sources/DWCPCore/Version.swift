/// The toolkit version every command reports with `--version` and writes into stream metadata.
public enum DWCPVersion {
    public static let string = "0.1.0"
}
