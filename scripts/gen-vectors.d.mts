export declare function build_vectors(): Promise<Record<string, string>>;
