@testable import DWCPPlace
import XCTest

final class InputTests: XCTestCase {
    func testNodeListErrorsNameTheLine() {
        let cases: [(String, String)] = [
            (#"{"node":"a","cpu":4}"# + "\n" + #"{"node":"a","cpu":4}"#, ":2: duplicate node id 'a'"),
            (#"{"node":"a","cpu":4,"memory":1}"# + "\n" + #"{"node":"b","cpu":4}"#, ":2: node 'b' has no capacity for memory"),
            (#"{"node":"a","cpu":-4}"#, ":1: negative capacity cpu -4"),
            (#"{"cpu":4}"#, ":1: missing node id"),
            (#"{"node":"a","cpu":4,"reputation":2}"#, "reputation 2.0 is not in [0, 1]"),
            (#"{"node":"a","cpu":4,"colour":"red"}"#, "unknown field \"colour\""),
            ("sn,cpu_milli\nn1,abc\n", ":2: cpu 'abc' is not a number"),
            (#"{"node":"a","cpu":4"#, ":1: column"),
            (#"{"node":"a","cpu":4,"gpu":1e300}"#, ":1: gpu 1e+300 devices on one node (at most 4096)"),
            ("sn,cpu_milli\nn1,inf\n", ":2: cpu 'inf' is not a number"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try NodeListReader.parse(text, name: "nodes"), text) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e) should say \(message)")
            }
        }
    }

    func testOpenbCSVColumns() throws {
        let (space, nodes) = try NodeListReader.parse("sn,cpu_milli,memory_mib,gpu,model\nn0,32000,262144,0,\nn1,96000,786432,8,V100M32\n", name: "n")
        XCTAssertEqual(space.names, ["cpu", "memory", "gpu"])
        XCTAssertEqual(nodes[1].capacity, [96, 786_432, 8])
        XCTAssertEqual(nodes[1].gpuModel, "V100M32")
        XCTAssertNil(nodes[0].gpuModel)
        var reader = RequestReader(space: space, phases: ["Running"])
        let header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
        XCTAssertNil(try reader.parse(Substring(header)))
        guard case .place(let share)? = try reader.parse("p0,6000,12288,1,460,V100M32|G2,LS,Running,0,1,0") else { return XCTFail() }
        XCTAssertEqual(share.demand, [6, 12288, 0.46])
        XCTAssertEqual(share.gpuModels, ["V100M32", "G2"])
        guard case .place(let whole)? = try reader.parse("p1,1000,1024,2,1000,,LS,Running,0,1,0") else { return XCTFail() }
        XCTAssertEqual(whole.demand[2], 2)
        XCTAssertNil(try reader.parse("p2,1000,1024,0,0,,LS,Failed,0,1,0"), "filtered by phase")
        XCTAssertThrowsError(try reader.parse("p3,1000,1024,2,500,,LS,Running,0,1,0"))
    }

    func testAGPUDemandBeyondAnyNodeIsAnErrorNotATrap() throws {
        let (space, nodes) = try NodeListReader.parse(#"{"node":"a","cpu":4,"gpu":8}"#, name: "n")
        let cluster = Cluster(space: space, nodes: nodes)
        for gpu in ["1e300", "9223372036854775807", "4097"] {
            var reader = RequestReader(space: space)
            guard case .place(let r)? = try reader.parse(Substring(#"{"vm":"v","cpu":1,"gpu":"# + gpu + "}")) else { return XCTFail(gpu) }
            XCTAssertThrowsError(try cluster.prepare(r), gpu) { e in XCTAssertTrue("\(e)".contains("more devices than a node can have"), "\(e)") }
        }
    }

    func testRequestErrors() throws {
        let space = ResourceSpace(["cpu", "memory"])
        let cases: [(String, String)] = [
            (#"{"vm":"a","disk":1}"#, "unknown resource \"disk\" (the nodes have cpu, memory)"),
            (#"{"vm":"a","cpu":-1}"#, "negative demand cpu -1"),
            (#"{"cpu":1}"#, "missing VM id"),
            (#"{"vm":"a"}"#, "demands no resource"),
            (#"{"vm":"a","cpu":1,"anti_affinity":true}"#, "anti_affinity needs a group"),
            (#"{"vm":"a","cpu":1,"pin":3}"#, "\"pin\" must be a string or an array"),
            (#"{"release":"a","cpu":1}"#, "a release is"),
            ("[1]", "expected a JSON object"),
        ]
        for (text, message) in cases {
            var reader = RequestReader(space: space)
            XCTAssertThrowsError(try reader.parse(Substring(text)), text) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e) should say \(message)")
            }
        }
        var reader = RequestReader(space: space)
        guard case .release("a")? = try reader.parse(#"{"release":"a"}"#) else { return XCTFail() }
    }

    func testUnplacedReasons() throws {
        let space = ResourceSpace(["cpu"])
        let session = PlacementSession(space: space, nodes: [NodeSpec(id: "a", capacity: [4]), NodeSpec(id: "b", capacity: [8])],
                                       objective: .pack, excluded: ["b"])
        XCTAssertEqual(try session.decide(VMRequest(id: "big", demand: [9])).reason, "larger than every node: cpu 9 > 8")
        XCTAssertEqual(try session.decide(VMRequest(id: "q", demand: [6])).reason,
                       "the 1 nodes large enough are quarantined (1) or ruled out by its constraints (0)")
        XCTAssertEqual(try session.decide(VMRequest(id: "x", demand: [3])).node, "a")
        XCTAssertEqual(try session.decide(VMRequest(id: "y", demand: [3])).reason, "no room: the one node that could take it is too full")
        XCTAssertThrowsError(try session.decide(VMRequest(id: "x", demand: [1])))
        XCTAssertThrowsError(try session.release("nope"))
        XCTAssertThrowsError(try session.decide(VMRequest(id: "p", demand: [1], pinned: ["zz"])))
        XCTAssertEqual(QuarantineList.parse("a\n# comment\n  b  # why\n\n"), ["a", "b"])
    }

    func testSpreadKeepsReplicasApartAndReportsViolations() throws {
        let space = ResourceSpace(["cpu"])
        let nodes = [NodeSpec(id: "a", capacity: [8], zone: "z1", domain: "d1"), NodeSpec(id: "b", capacity: [8], zone: "z1", domain: "d1"),
                     NodeSpec(id: "c", capacity: [8], zone: "z2", domain: "d2")]
        let session = PlacementSession(space: space, nodes: nodes, objective: .spread)
        let first = try session.decide(VMRequest(id: "r1", demand: [1], group: "g"))
        let second = try session.decide(VMRequest(id: "r2", demand: [1], group: "g"))
        XCTAssertNotEqual(first.node == "c", second.node == "c", "one replica per failure domain")
        XCTAssertTrue(second.violations.isEmpty)
        let third = try session.decide(VMRequest(id: "r3", demand: [1], group: "g"))
        XCTAssertTrue(third.violations.contains("replica_in_same_domain"), "\(third.violations)")
    }
}
